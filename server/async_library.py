"""Telling sniffio, once per serving thread, that the running library is asyncio.

When sniffio is installed (anyio does not need it, but httpx and the openai SDK pull it in),
anyio asks sniffio which async library is running on nearly every call (each cancel scope,
timeout, task group and event). With nothing declared, sniffio works it out by looking up the
current asyncio task, every time: about 5 % of the CPU of a cached answer and 9 % of a short
stream, measured with py-spy. The served app runs asyncio on one thread, so the lifespan
declares it in sniffio's thread-local (the hook sniffio offers for this) and takes it back on
shutdown, so that a later `anyio.run` on the same thread does not believe a loop is running.
Apps nested on one thread (tests) count their declarations, and only the last one out clears.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import sniffio
except ImportError:  # anyio then asks asyncio directly, which is cheap: nothing to do
    sniffio = None  # type: ignore[assignment]

# Per thread: how many running apps declared asyncio here (state that is per-thread by nature).
_declared = threading.local()


@contextmanager
def asyncio_declared() -> Iterator[None]:
    """Declare asyncio as this thread's async library for the duration of the block."""
    if sniffio is None or _running_library() != "asyncio":
        yield  # another library (or none) is running: leave the detection alone
        return
    depth: int = getattr(_declared, "depth", 0)
    if depth == 0 and sniffio.thread_local.name is not None:
        yield  # somebody else declared it already: not ours to take back
        return
    _declared.depth = depth + 1
    sniffio.thread_local.name = "asyncio"
    try:
        yield
    finally:
        _declared.depth -= 1
        if _declared.depth == 0:
            sniffio.thread_local.name = None


def _running_library() -> str | None:
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None
