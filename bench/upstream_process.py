"""Starts `frugal upstream` in its own process for benchmarks, and stops it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def upstream_simulator(extra_args: Sequence[str] = ()) -> Iterator[str]:
    """Yield the simulator's base URL (``http://127.0.0.1:PORT``) while it runs."""
    port = free_port()
    frugal = Path(sys.executable).with_name("frugal")
    process = subprocess.Popen(
        [str(frugal), "upstream", "--host", "127.0.0.1", "--port", str(port), *extra_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the upstream simulator did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
