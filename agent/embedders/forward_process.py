"""`ForwardProcess`: the helper process that runs MiniLM forward passes, one per gateway process.

In the gateway's own threads, each forward pass (~1.3 ms of int8 onnxruntime) handed the GIL
back and forth with the event loop: at 32 concurrent misses the loop held the GIL 71 % of the
time and the process stalled near 310-330 requests/s. The helper
(`agent.embedders.forward_worker`) does the passes on the other core; each embedder talks to it
over its own socket (`agent.embedders.forward_client`), read by its own event loop.

Started once per process and shared (`shared_forward_process`), like the in-thread embedder's
loaded model, so a test's many gateways pay the ~2 s start once. If it dies, calls fail at once
(`ForwardUnavailable`; the cache treats that as a miss) and it is started again in the
background, at most once per ``restart_backoff_s``. It exits when this process does: its stdin,
held open here, then ends.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import agent
from agent.embedders.forward_wire import FrameError, Hello, read_message
from agent.embedders.minilm_model import Runtime

_log = logging.getLogger(__name__)
_WORKER_MODULE = "agent.embedders.forward_worker"


class ForwardUnavailable(RuntimeError):
    """The helper process is not running (starting, restarting, or stopped)."""


class ForwardProcess:
    """Starts, watches and restarts the helper; thread-safe."""

    def __init__(
        self,
        runtime: Runtime = "auto",
        model_dir: Path | None = None,
        *,
        start_timeout_s: float = 120.0,
        restart_backoff_s: float = 1.0,
    ) -> None:
        # The helper imports this project from where this process found it (a checkout, a
        # venv), whatever its working directory and PYTHONPATH.
        root = str(Path(agent.__file__).resolve().parent.parent)
        bootstrap = f"import sys; sys.path.insert(0, {root!r}); from {_WORKER_MODULE} import main"
        self._command = [sys.executable, "-c", f"{bootstrap}; main()", "--runtime", runtime]
        if model_dir is not None:
            self._command += ["--model-dir", str(model_dir)]
        self._start_timeout_s = start_timeout_s
        self._restart_backoff_s = restart_backoff_s
        self._lock = threading.Lock()  # the fields below; held only briefly
        self._start_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._hello: Hello | None = None
        self._token = ""
        self._last_start = -float("inf")
        self._restarting = False
        self._closed = False
        self.starts = 0
        """How many helpers were started (1 + restarts); tests read it."""

    @property
    def token(self) -> str:
        """What a connection must send first (`forward_wire.Auth`)."""
        return self._token

    @property
    def pid(self) -> int | None:
        """The running helper's pid (None while it is down)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def hello(self) -> Hello:
        """The running helper's `Hello`. Raises `ForwardUnavailable` while it is down (and
        starts it again in the background)."""
        hello = self._hello
        if hello is None:
            self._restart_soon()
            raise ForwardUnavailable("the forward-pass helper is not running")
        return hello

    def start(self) -> None:
        """Start the helper and wait for its model to load (blocks ~2 s; idempotent).

        Raises `ForwardUnavailable` if it exits or stays silent past ``start_timeout_s``.
        """
        with self._start_lock:  # one start at a time; `_lock` is never held while waiting
            with self._lock:
                if self._closed:
                    raise ForwardUnavailable("the forward-pass helper was closed")
                if self._hello is not None:
                    return
                self._last_start = time.monotonic()
                self.starts += 1
            token = secrets.token_hex(16)
            process = self._spawn(token)
            hello = _read_hello(process, self._start_timeout_s)
            with self._lock:
                closed = self._closed
                if not closed:  # the token first: a caller that sees the hello needs it
                    self._process, self._token = process, token
                    self._hello = hello
            if closed:
                _stop(process)
                raise ForwardUnavailable("the forward-pass helper was closed")
        threading.Thread(
            target=self._watch, args=(process,), name=f"forward-watch-{process.pid}", daemon=True
        ).start()

    def stalled(self, pid: int) -> None:
        """Kill helper *pid* if it is still the running one (it stopped answering: stuck, or
        stopped by a signal); it is then started again like one that died."""
        with self._lock:
            process = self._process
        if process is not None and process.pid == pid and process.poll() is None:
            _log.warning("the forward-pass helper (pid %d) stopped answering; replacing it", pid)
            process.kill()

    def close(self) -> None:
        """Stop the helper (closing its stdin ends it); later calls raise `ForwardUnavailable`."""
        with self._lock:
            self._closed = True
            process, self._process, self._hello = self._process, None, None
        if process is not None:
            _stop(process)

    def _spawn(self, token: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # our own interpreter and module
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert process.stdin is not None
        process.stdin.write(f"{token}\n".encode())
        process.stdin.flush()
        return process

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        with self._lock:
            if self._process is not process:
                return  # closed, or already replaced
            self._process, self._hello = None, None
            closed = self._closed
        _stop(process)  # only closes its pipes now
        if not closed:
            _log.warning("the forward-pass helper (pid %d) exited with %s", process.pid, code)
            self._restart_soon()

    def _restart_soon(self) -> None:
        with self._lock:
            if self._closed or self._restarting or self._hello is not None:
                return
            self._restarting = True
        threading.Thread(target=self._restart, name="forward-restart", daemon=True).start()

    def _restart(self) -> None:
        try:
            wait = self._last_start + self._restart_backoff_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.start()
        except (ForwardUnavailable, OSError) as exc:
            _log.warning("could not restart the forward-pass helper: %s", exc)
        finally:
            with self._lock:
                self._restarting = False


def _read_hello(process: subprocess.Popen[bytes], timeout_s: float) -> Hello:
    box: list[object] = [None]

    def read() -> None:
        assert process.stdout is not None
        try:
            box[0] = read_message(process.stdout)
        except (FrameError, OSError) as exc:
            box[0] = exc

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    hello = box[0]
    if not isinstance(hello, Hello):
        _stop(process)
        why = "timed out" if reader.is_alive() else f"said {hello!r}"
        raise ForwardUnavailable(f"the forward-pass helper did not start: {why}")
    return hello


def _stop(process: subprocess.Popen[bytes], grace_s: float = 2.0) -> None:
    """Close its stdin (the helper's cue to exit), wait, kill if it lingers; close its pipes."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


_SHARED: list[ForwardProcess] = []


@functools.lru_cache(maxsize=4)
def shared_forward_process(runtime: Runtime, model_dir: Path | None) -> ForwardProcess:
    """This process's helper for (*runtime*, *model_dir*), started on first use (blocking)."""
    helper = ForwardProcess(runtime, model_dir)
    helper.start()
    atexit.register(helper.close)
    _SHARED.append(helper)
    return helper


def shared_helper_restarts() -> int:
    """How many times this process's shared helpers were started again (for ``/metrics``)."""
    return sum(max(helper.starts - 1, 0) for helper in _SHARED)
