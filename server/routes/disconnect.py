"""Stop work nobody waits for: a JSON answer whose client has hung up.

A streaming response learns of a disconnect when a send fails; a JSON answer sends nothing
until it is complete, so without a watcher an abandoned request would run its upstream
calls to the end and pay for tokens nobody reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.requests import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the answer was ready; the work was cancelled."""


async def unless_client_leaves(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """``work()``'s result; if the client disconnects first, ``work`` is cancelled (its
    upstream calls stop) and `ClientGone` is raised. Call it only once the body has been
    read: the watcher takes the ASGI messages that follow the body."""
    gone = False

    async def watch(scope: anyio.CancelScope) -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            continue
        gone = True
        scope.cancel()

    done: list[T] = []
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(watch, group.cancel_scope)
        try:
            done.append(await work())
        except Exception as exc:  # re-raised as itself below, not inside an ExceptionGroup
            failure = exc
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if done:
        return done[0]
    if gone:
        raise ClientGone
    raise RuntimeError("the work was cancelled without a disconnect")  # pragma: no cover
