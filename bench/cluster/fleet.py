"""A real multi-replica deployment on loopback: one durable redis-server, the upstream
simulator as every provider, N `frugal serve` replicas sharing that Redis, and HAProxy in
front (`bench.cluster.haproxy`). Processes run in sessions of their own, so `make cluster`
can return while they serve; their PIDs go to ``cluster.json`` in the state directory, which
is all `stop_cluster` needs (`make cluster-down`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.cluster.haproxy import haproxy_binary, render_haproxy_cfg
from bench.redis_process import redis_command
from bench.upstream_process import free_port, frugal_command, spawn_listening

STATE_FILE = "cluster.json"
API_KEY = "cluster-demo-key-0123456789abcdef"
ADMIN_KEY = "cluster-admin-key-0123456789abcd"
# A stream of 60 tokens takes ~1.2 s: long enough to be in flight when a replica is stopped.
SIMULATOR_ARGS = ("--ttft-ms", "30", "--tokens-per-s", "50", "--output-tokens", "60")
# The cluster's gateways are configured here, not by the caller's shell.
_DROPPED_PREFIXES = ("FRUGAL_", "OPENAI_", "ANTHROPIC_", "REDIS_")
_RECORDING = threading.Lock()
_ORDER = ("redis", "simulator", "replica", "haproxy")  # start order; stopped in reverse


@dataclass
class Member:
    """One process of the cluster: ``kind`` is redis, simulator, replica or haproxy."""

    name: str
    kind: str
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    state_dir: Path
    members: list[Member] = field(default_factory=list)
    # Children of this process (absent when loaded from the state file): waited on when
    # stopped, so none is left a zombie.
    _children: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def lb(self) -> Member:
        return self.member("haproxy")

    @property
    def replicas(self) -> list[Member]:
        return [m for m in self.members if m.kind == "replica"]

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.member('redis').port}/0"

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def save(self) -> None:
        members = [asdict(m) for m in self.members]
        (self.state_dir / STATE_FILE).write_text(json.dumps({"members": members}, indent=2))

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to one member (by the PID this cluster started)."""
        os.kill(self.member(name).pid, sig)

    def wait_exit(self, name: str, timeout_s: float) -> int | None:
        """Wait for a member to exit; its exit status when it was our child, else None."""
        pid = self.member(name).pid
        child = self._children.get(pid)
        if child is not None:
            return child.wait(timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while _alive(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} (pid {pid}) still running")
            time.sleep(0.05)
        return None


def start_cluster(
    state_dir: Path,
    *,
    replicas: int = 3,
    lb_port: int | None = None,
    simulator_args: Sequence[str] = SIMULATOR_ARGS,
    settings: Mapping[str, str] | None = None,
) -> Cluster:
    """Start everything (Redis first, HAProxy last) and return once HAProxy listens and
    every replica is ready; on a failure, stop what was started and raise."""
    state_dir = state_dir.resolve()  # haproxy wants an absolute path for its socket
    state_dir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(state_dir)
    try:
        _start_all(cluster, replicas, lb_port, simulator_args, settings or {})
    except BaseException:
        stop_cluster(cluster)
        raise
    cluster.save()
    return cluster


def _spawn(
    cluster: Cluster,
    name: str,
    kind: str,
    command: Sequence[str],
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    start_s: float = 20,
) -> Member:
    with (cluster.state_dir / f"{name}.log").open("ab") as log:
        process = spawn_listening(command, port, env=env, start_s=start_s, log=log, detached=True)
    member = Member(name, kind, process.pid, port)
    with _RECORDING:  # replicas start from several threads
        cluster.members.append(member)
        cluster._children[process.pid] = process
        cluster.save()  # so `make cluster-down` finds whatever is already running
    return member


def _start_all(
    cluster: Cluster,
    replicas: int,
    lb_port: int | None,
    simulator_args: Sequence[str],
    settings: Mapping[str, str],
) -> None:
    state = cluster.state_dir
    redis_dir = state / "redis"
    redis_dir.mkdir(exist_ok=True)
    port = free_port()
    _spawn(cluster, "redis", "redis", redis_command(port, str(redis_dir), durable=True), port)
    port = free_port()
    command = frugal_command("upstream", "--host", "127.0.0.1", "--port", str(port))
    sim = _spawn(cluster, "simulator", "simulator", [*command, *simulator_args], port)
    env = replica_env(cluster.redis_url, sim.url, state, settings)

    def replica(index: int) -> None:
        port = free_port()
        command = frugal_command("serve", "--host", "127.0.0.1", "--port", str(port))
        member = _spawn(cluster, f"replica-{index}", "replica", command, port, env=env, start_s=90)
        _wait_ready(member, timeout_s=60)

    # Side by side: each spends its start-up loading the embedder.
    with ThreadPoolExecutor(replicas) as pool:
        for started in [pool.submit(replica, i) for i in range(1, replicas + 1)]:
            started.result()
    cluster.members.sort(key=lambda m: (_ORDER.index(m.kind), m.name))
    port = lb_port or free_port()
    config = state / "haproxy.cfg"
    servers = [(m.name, f"127.0.0.1:{m.port}") for m in cluster.replicas]
    socket_path = str(state / "haproxy.sock")
    config.write_text(render_haproxy_cfg(f"127.0.0.1:{port}", servers, stats_socket=socket_path))
    # -db: stay in the foreground (no daemon fork), so the PID we record is HAProxy's own.
    _spawn(cluster, "haproxy", "haproxy", [haproxy_binary(), "-db", "-f", str(config)], port)


def replica_env(
    redis_url: str, upstream_url: str, state_dir: Path, settings: Mapping[str, str]
) -> dict[str, str]:
    """The environment of every replica: the shared Redis, the simulator as the OpenAI
    provider, one API key and an admin key, and a global daily budget (so its ledger is
    exercised across the fleet)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    return env | {
        "REDIS_URL": redis_url,
        "OPENAI_BASE_URL": f"{upstream_url}/v1",
        "OPENAI_API_KEY": "cluster",
        "FRUGAL_AUTH_API_KEYS": f"acme:{API_KEY}",
        "FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY,
        "FRUGAL_SERVER_LOG_LEVEL": "info",
        "FRUGAL_BUDGET_GLOBAL_DAILY_USD_MICROS": "100000000000",
        "FRUGAL_COST_JOURNAL_DIR": str(state_dir / "journal"),
        "FRUGAL_BATCH_FILES_DIR": str(state_dir / "batch-files"),
        **settings,
    }


def _wait_ready(member: Member, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{member.url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{member.name} did not become ready")
        time.sleep(0.1)


def load_cluster(state_dir: Path) -> Cluster:
    """The cluster recorded in ``state_dir`` (by `start_cluster`)."""
    data = json.loads((state_dir / STATE_FILE).read_text())
    return Cluster(state_dir, [Member(**m) for m in data["members"]])


def stop_cluster(cluster: Cluster, *, timeout_s: float = 40) -> None:
    """Stop every member by its PID, the balancer first (no new requests), then the replicas
    (SIGTERM: they drain), the simulator and Redis; SIGKILL what is still up after
    ``timeout_s``. A PID whose process is no longer the one started is left alone."""
    for kind in reversed(_ORDER):
        group = [m for m in cluster.members if m.kind == kind and _ours(m)]
        for member in group:
            os.kill(member.pid, signal.SIGTERM)
        for member in group:
            try:
                cluster.wait_exit(member.name, timeout_s)
            except (TimeoutError, subprocess.TimeoutExpired):
                os.kill(member.pid, signal.SIGKILL)
                cluster.wait_exit(member.name, 5)
    for process in cluster._children.values():
        if process.poll() is None:  # never expected: every child was stopped above
            process.kill()
        process.wait()
    state = cluster.state_dir / STATE_FILE
    state.unlink(missing_ok=True)


_EXPECTED = {"haproxy": "haproxy", "replica": "serve", "simulator": "upstream", "redis": "redis"}


def _ours(member: Member) -> bool:
    """The PID still runs the program this cluster started (PIDs are reused)."""
    if not _alive(member.pid):
        return False
    try:
        cmdline = Path(f"/proc/{member.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return _EXPECTED[member.kind].encode() in cmdline


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status[status.rindex(")") + 2] != "Z"
