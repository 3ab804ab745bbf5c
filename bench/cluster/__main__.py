"""``python -m bench.cluster up|down|status`` (`make cluster`, `make cluster-down`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.cluster.fleet import (
    ADMIN_KEY,
    API_KEY,
    STATE_FILE,
    Cluster,
    load_cluster,
    start_cluster,
    stop_cluster,
)

STATE_DIR = Path(".frugal/cluster")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--port", type=int, default=8080, help="HAProxy's port (0: a free one)")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    state: Path = args.state_dir
    running = (state / STATE_FILE).exists()
    if args.action == "up":
        if running:
            print(f"cluster: already up ({state / STATE_FILE}); `make cluster-down` first")
            return 1
        print(
            f"cluster: starting redis, simulator, {args.replicas} replicas, haproxy ...", flush=True
        )
        try:
            cluster = start_cluster(state, replicas=args.replicas, lb_port=args.port or None)
        except RuntimeError as exc:
            print(f"cluster: {exc} (logs in {state})", file=sys.stderr)
            return 1
        _print(load_cluster(state))
        print(
            f"try: curl -s {cluster.lb.url}/v1/chat/completions -H 'authorization: Bearer "
            f'{API_KEY}\' -d \'{{"model":"gpt-4o-mini","messages":[{{"role":"user",'
            f'"content":"hi"}}]}}\'\n'
            f"     curl -s {cluster.lb.url}/stats -H 'authorization: Bearer {ADMIN_KEY}'"
        )
        return 0
    if not running:
        print("cluster: not running")
        return 0 if args.action == "down" else 1
    cluster = load_cluster(state)
    if args.action == "status":
        _print(cluster)
        return 0
    stop_cluster(cluster)
    print("cluster: stopped (haproxy, replicas drained, simulator, redis)")
    return 0


def _print(cluster: Cluster) -> None:
    for member in cluster.members:
        print(f"  {member.name:<10} pid {member.pid:<8} {member.url}")


if __name__ == "__main__":
    sys.exit(main())
