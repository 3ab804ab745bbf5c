"""Starts `frugal upstream` (or any listening server) in its own process for benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_listening(
    command: Sequence[str],
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    start_s: float = 20,
    log: IO[bytes] | None = None,
    detached: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``command`` and return once it accepts connections on ``port`` (killed, and an
    error raised, when it exits or is not listening within ``start_s``). ``log`` takes its
    output (discarded by default); ``detached`` puts it in a session of its own, so it
    outlives the caller (`bench.cluster`)."""
    output = log if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        list(command), env=env, stdout=output, stderr=output, start_new_session=detached
    )
    deadline = time.monotonic() + start_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError(f"{command[0]} did not start listening") from None
            time.sleep(0.05)


@contextmanager
def listening_process(
    command: Sequence[str], port: int, *, env: Mapping[str, str] | None = None, start_s: float = 20
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends; enter (with its process) once it accepts
    connections on ``port``."""
    process = spawn_listening(command, port, env=env, start_s=start_s)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def frugal_command(*args: str) -> list[str]:
    """The ``frugal`` console script of this virtualenv, with ``args``."""
    return [str(Path(sys.executable).with_name("frugal")), *args]


@contextmanager
def upstream_simulator(extra_args: Sequence[str] = ()) -> Iterator[str]:
    """Yield the simulator's base URL (``http://127.0.0.1:PORT``) while it runs."""
    port = free_port()
    command = frugal_command("upstream", "--host", "127.0.0.1", "--port", str(port), *extra_args)
    with listening_process(command, port):
        yield f"http://127.0.0.1:{port}"
