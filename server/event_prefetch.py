"""`EventPrefetch`: runs a started pipeline stream ahead of the SSE writer.

Without it the pipeline only advances when the response body asks for the next event, so the
provider request would wait until the response headers and the first frame had been written:
time added to every stream's time to first token. The pump (run in the response's task group)
pulls the next event at once, so the provider request goes out while the headers are still
being sent, and a slow reader does not hold up reading the provider until ``buffer`` events
are queued (then it pushes back).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import anyio

from agent.pipeline.response import StreamEvent

DEFAULT_BUFFER = 64


@dataclass(frozen=True, slots=True)
class _Failed:
    """An exception the pipeline raised, carried across to the reader."""

    error: Exception


class EventPrefetch:
    """An async iterator over ``events`` fed by `pump`; see the module docstring.

    Exceptions the pipeline raises reach the reader in order, after the events before them.
    `aclose` (the reader is done) makes the pump stop and close the pipeline generator.
    """

    def __init__(
        self, events: AsyncGenerator[StreamEvent, None], *, buffer: int = DEFAULT_BUFFER
    ) -> None:
        self.events = events
        self._send, self._receive = anyio.create_memory_object_stream[StreamEvent | _Failed](buffer)

    async def pump(self) -> None:
        """Move events from the pipeline to the reader until either side ends."""
        async with self._send:
            try:
                async for event in self.events:
                    await self._send.send(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the reader went away; the caller closes the pipeline generator
            except Exception as exc:
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await self._send.send(_Failed(exc))

    def __aiter__(self) -> EventPrefetch:
        return self

    async def __anext__(self) -> StreamEvent:
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None
        if isinstance(item, _Failed):
            raise item.error
        return item

    async def aclose(self) -> None:
        """Stop reading; a pump blocked on a full buffer stops too."""
        self._receive.close()

    def close(self) -> None:
        """Close both ends of the buffer (what is still queued is dropped)."""
        self._receive.close()
        self._send.close()
