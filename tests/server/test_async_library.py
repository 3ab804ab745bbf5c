"""The lifespan's asyncio declaration to sniffio: set while apps run, cleared after."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import sniffio

from server.async_library import asyncio_declared


def test_declared_while_running_and_cleared_so_anyio_run_works_again() -> None:
    async def serve() -> None:
        assert sniffio.thread_local.name is None
        with asyncio_declared():
            assert sniffio.thread_local.name == "asyncio"
            assert sniffio.current_async_library() == "asyncio"
            with anyio.fail_after(5):  # anyio still works with the declaration in place
                await anyio.lowlevel.checkpoint()
        assert sniffio.thread_local.name is None

    anyio.run(serve)
    anyio.run(serve)  # would raise "Already running asyncio" had the name been left set


def test_overlapping_apps_on_one_thread_clear_only_when_the_last_one_stops() -> None:
    async def overlap() -> None:
        first, second = asyncio_declared(), asyncio_declared()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert sniffio.thread_local.name == "asyncio"
        second.__exit__(None, None, None)
        assert sniffio.thread_local.name is None

    anyio.run(overlap)


def test_outside_an_event_loop_nothing_is_declared() -> None:
    with asyncio_declared():
        assert sniffio.thread_local.name is None
