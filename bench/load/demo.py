"""``make demo``: the upstream simulator at a realistic pace, the gateway in front of it, and
the load script on the bundled workload; everything started here is stopped here (by PID,
also on Ctrl-C or an error).

`frugal upstream` paces every model alike (``--ttft-ms``/``--tokens-per-s`` are global;
per-model pacing exists only as per-request ``x-sim-*`` headers, which the gateway does not
send), so the demo uses the middle of the realistic ranges: 550 ms to the first token (of
300-800) and 55 tokens/s (of 30-80). Run it as ``python -m bench.load.demo`` or
``frugal load --demo``; the flags below override the defaults.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import anyio

from bench.load.runner import LoadOptions
from bench.load.session import REPORT_DIR, exit_code, load_and_report
from bench.load.workload import default_workload_path, read_workload
from bench.upstream_process import free_port, frugal_command, listening_process, upstream_simulator

TTFT_MS = 550
TOKENS_PER_S = 55
REQUESTS = 300
CONCURRENCY = 16
# The demo must show the gateway as configured here, not as the caller's shell configures it.
_DROPPED_PREFIXES = ("FRUGAL_", "OPENAI_", "ANTHROPIC_", "REDIS_")


@contextmanager
def gateway(upstream_url: str) -> Iterator[str]:
    """Run ``frugal serve`` (in-memory state) against the simulator; yield its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env |= {
        "OPENAI_BASE_URL": f"{upstream_url}/v1",
        "OPENAI_API_KEY": "demo",
        "FRUGAL_SERVER_LOG_LEVEL": "warning",
    }
    command = frugal_command("serve", "--host", "127.0.0.1", "--port", str(port))
    with listening_process(command, port, env=env, start_s=90):
        yield f"http://127.0.0.1:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="frugal load --demo", description=__doc__)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--endpoint", choices=("chat", "stream", "openai"), default="stream")
    parser.add_argument("--ttft-ms", type=float, default=TTFT_MS)
    parser.add_argument("--tokens-per-s", type=float, default=TOKENS_PER_S)
    parser.add_argument("--workload", type=Path, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    workload = args.workload or default_workload_path()
    items = read_workload(workload)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    pace = ["--ttft-ms", str(args.ttft_ms), "--tokens-per-s", str(args.tokens_per_s)]
    started = time.perf_counter()
    # `kill <pid>` must stop the servers too, as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(
            f"demo: upstream simulator, {args.ttft_ms:g} ms to first token, "
            f"{args.tokens_per_s:g} tokens/s",
            file=sys.stderr,
        )
        with upstream_simulator(pace) as upstream:
            print("demo: starting the gateway (loads the local embedder)", file=sys.stderr)
            with gateway(upstream) as base_url:
                print(
                    f"demo: gateway on {base_url}; {args.requests} requests of {workload}, "
                    f"concurrency {args.concurrency}",
                    file=sys.stderr,
                )
                options = LoadOptions(
                    base_url=base_url,
                    endpoint=args.endpoint,
                    concurrency=args.concurrency,
                    requests=args.requests,
                    max_time_s=600,
                )
                report = anyio.run(
                    lambda: load_and_report(
                        items,
                        options,
                        workload=str(workload),
                        json_path=REPORT_DIR / f"demo-{stamp}.json",
                        html_path=REPORT_DIR / f"demo-{stamp}.html",
                    ),
                    backend="asyncio",
                    backend_options={"use_uvloop": True},
                )
    except KeyboardInterrupt:
        print("\ndemo: interrupted; simulator and gateway stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # a server that did not come up
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(
        f"demo: done in {time.perf_counter() - started:.0f} s; simulator and gateway stopped",
        file=sys.stderr,
    )
    return exit_code(report)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
