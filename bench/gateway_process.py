"""Shared pieces of the gateway benchmarks: `frugal serve` and `frugal upstream` as
subprocesses (with their PIDs), their CPU time and RSS read from ``/proc``, the request bodies,
and a lean closed-loop load generator.

The load generator is deliberately thin (pre-encoded bodies, one keep-alive pool sized to the
concurrency, no per-request parsing) because it shares the machine with the servers it measures.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import aiohttp
import anyio
import msgspec

from bench.upstream_process import free_port, frugal_command, listening_process

API_KEY = "bench"
MODEL = "gpt-4o-mini"
CACHE_HEADER = "x-frugal-cache"
NO_STORE = {CACHE_HEADER: "no-store"}
"""Skips the cache writes; with nothing ever written the exact lookup always misses."""
JSON_HEADERS = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
SEMANTIC_OFF = {"FRUGAL_CACHE_SEMANTIC_ENABLED": "false"}
CALIBRATION = Path(__file__).resolve().parent.parent / "cache" / "data" / "calibration_pairs.jsonl"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_SERVE_FROM_PATH = "import sys; from server.cli import main; sys.exit(main(sys.argv[1:]))"


class Server(NamedTuple):
    """A running server subprocess: its base URL (``http://127.0.0.1:PORT``) and PID."""

    url: str
    pid: int


@contextmanager
def simulator(extra_args: Sequence[str] = ()) -> Iterator[Server]:
    """Run `frugal upstream` (0 ms latency unless ``extra_args`` pace it) until the block ends."""
    port = free_port()
    command = frugal_command("upstream", "--host", "127.0.0.1", "--port", str(port), *extra_args)
    with listening_process(command, port) as process:
        yield Server(f"http://127.0.0.1:{port}", process.pid)


@contextmanager
def gateway(
    upstream_url: str, settings: Mapping[str, str] | None = None, *, source: Path | None = None
) -> Iterator[Server]:
    """Run `frugal serve` (one process) against the simulator at ``upstream_url``.

    ``settings`` are extra ``FRUGAL_*`` variables. The log level is ``warning``, so the
    per-request JSON log line (an ``info`` record) is not written. ``source`` is another
    checkout of the gateway to run instead of this one (`bench.baseline`).
    """
    port = free_port()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{upstream_url}/v1",
        "OPENAI_API_KEY": API_KEY,
        "FRUGAL_SERVER_LOG_LEVEL": "warning",
        **(settings or {}),
    }
    command = frugal_command("serve", "--host", "127.0.0.1", "--port", str(port))
    if source is not None:
        env["PYTHONPATH"] = str(source)  # ahead of this checkout's editable install
        # -P: no script directory on sys.path, so PYTHONPATH (the other checkout) wins.
        command = [sys.executable, "-P", "-c", _SERVE_FROM_PATH, *command[1:]]
    with listening_process(command, port, env=env, start_s=60) as process:
        yield Server(f"http://127.0.0.1:{port}", process.pid)


def family(pid: int) -> list[int]:
    """``pid`` and its live child processes (a gateway's embedder helper), recursively."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids.extend(int(child) for child in task.read_text().split())
        i += 1
    return pids


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time so far of process ``pid`` (all its threads) and its live
    children: the gateway's cost includes its embedder helper's."""
    total = 0.0
    for member in family(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{member}/stat").read_text()
            # Fields after the parenthesised command name; utime and stime are fields 14, 15.
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return total


def machine_load() -> str:
    """The 1-minute load average and core count: other work on the machine skews the figures."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def rss_bytes(pid: int) -> int:
    """Resident set size (``VmRSS``) of process ``pid`` plus its live children's."""
    total = 0
    for member in family(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    if total == 0:
        raise RuntimeError(f"no VmRSS for process {pid}")
    return total


class _Pair(msgspec.Struct):
    a: str
    b: str


def questions(count: int) -> list[str]:
    """``count`` distinct support questions: the calibration set's, then numbered variants."""
    decoder = msgspec.json.Decoder(_Pair)
    lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
    pairs = [decoder.decode(line) for line in lines if line.strip()]
    base = list(dict.fromkeys(q for p in pairs for q in (p.a, p.b)))
    # "case c000123" names no order id, so the planner adds no order lookup.
    found = base[:count]
    for i in range(count - len(found)):
        found.append(f"{base[i % len(base)]} (case c{i:06d})")
    return found


def completion_body(question: str, *, stream: bool = False, model: str = MODEL) -> bytes:
    """An OpenAI ``/v1/chat/completions`` request body for one user question."""
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "temperature": 0,  # deterministic: the answers the gateway may cache
    }
    if stream:
        body["stream"] = True
    return msgspec.json.encode(body)


def chat_body(question: str) -> bytes:
    """A ``POST /chat`` request body for one question."""
    return msgspec.json.encode({"message": question})


def http_session(concurrency: int) -> aiohttp.ClientSession:
    """A client session whose keep-alive pool holds exactly ``concurrency`` connections."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


class Sample:
    """What one closed-loop round observed."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.elapsed_s = 0.0

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0


class RoundTotals:
    """Closed-loop rounds of one variant added up, with the CPU the server and client spent."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.elapsed_s = 0.0
        self.errors = 0
        self.cpu_s = 0.0
        self.client_cpu_s = 0.0

    def add(self, sample: Sample, *, cpu_s: float, client_cpu_s: float) -> None:
        """Add one round: its sample, the server's CPU seconds and the load generator's."""
        self.latencies_ms += sample.latencies_ms
        self.elapsed_s += sample.elapsed_s
        self.errors += sample.errors
        self.cpu_s += cpu_s
        self.client_cpu_s += client_cpu_s

    @property
    def rate(self) -> float:
        """Successful requests per second over all rounds."""
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def per_request_ms(self, seconds: float) -> float:
        """``seconds`` spread over the successful requests, in milliseconds each."""
        return 1000 * seconds / len(self.latencies_ms) if self.latencies_ms else 0.0


async def closed_loop(
    session: aiohttp.ClientSession,
    url: str,
    bodies: Sequence[bytes],
    *,
    headers: Mapping[str, str],
    concurrency: int,
    duration_s: float,
    start: int = 0,
) -> Sample:
    """``concurrency`` workers post ``bodies`` round-robin to ``url`` for ``duration_s``.

    A request counts when it ends with status 200 and its body fully read; anything else
    (status or connection error) is counted in `Sample.errors`.
    """
    sample = Sample()
    next_index = start
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        nonlocal next_index
        while time.perf_counter() < deadline:
            body = bodies[next_index % len(bodies)]
            next_index += 1
            sent = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                sample.latencies_ms.append((time.perf_counter() - sent) * 1000)
            else:
                sample.errors += 1

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    sample.elapsed_s = time.perf_counter() - started
    return sample


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
