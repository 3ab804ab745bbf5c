"""Starts a throwaway redis-server for the benches and the tests (never mocked, never skipped).

It lives with the benches because nothing outside ``tests`` may import ``tests``;
``tests.support.redis_server`` re-exports it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench.upstream_process import free_port


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


@contextmanager
def start_redis_server(port: int | None = None) -> Iterator[RedisServer]:
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="frugal-redis-") as workdir:
        process = subprocess.Popen(
            _command(port, workdir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_listening(port, process)
            yield RedisServer("127.0.0.1", port, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def redis_command(port: int, workdir: str, *, durable: bool = False) -> list[str]:
    """The redis-server command line of a loopback server on ``port`` keeping its files in
    ``workdir`` (``durable``: append-only file, fsync always)."""
    return _command(port, workdir, durable=durable)


def _command(port: int, workdir: str, *, durable: bool = False) -> list[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: `make test` installs Debian's redis-server")
    # Loopback only; a throwaway server keeps nothing, a durable one fsyncs every write to its
    # append-only file (as a production Redis would), so a SIGKILL loses no acknowledged write.
    options = {
        "port": str(port),
        "bind": "127.0.0.1",
        "save": "",
        "appendonly": "yes" if durable else "no",
        "appendfsync": "always",
        "dir": workdir,
        "protected-mode": "no",
    }
    return [binary, *(arg for name, value in options.items() for arg in (f"--{name}", value))]


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server did not start on port {port}")


class ControllableRedisServer:
    """A redis-server of a test's own that can be stopped, restarted on the same port, and
    frozen (SIGSTOP) to simulate an outage or a hung server, or killed (SIGKILL) and
    restarted. ``durable`` keeps its data on disk across a kill (append-only file, fsync
    always). Use as a context manager.
    """

    def __init__(self, port: int | None = None, *, durable: bool = False) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._durable = durable
        self._workdir = tempfile.TemporaryDirectory(prefix="frugal-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            _command(self.port, self._workdir.name, durable=self._durable),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until_listening(self.port, self._process)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)  # a frozen server cannot handle SIGTERM
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def pause(self) -> None:
        """Freeze the server: connections stay open but nothing is answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, no final save); `start` brings it back."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def __enter__(self) -> ControllableRedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._workdir.cleanup()
