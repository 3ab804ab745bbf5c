"""`RelayResponse`: a client that stops reading is dropped, and the closing step always runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from starlette.types import Message

from server.relay_response import RelayResponse

pytestmark = pytest.mark.anyio

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "method": "GET"}


async def _body() -> AsyncIterator[bytes]:
    for _ in range(3):
        yield b"data: {}\n\n"


async def _never_disconnects() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


class TestRelayResponse:
    async def test_a_client_that_stops_reading_is_dropped_and_the_response_closed(
        self,
    ) -> None:
        closed: list[bool] = []

        async def on_close() -> None:
            closed.append(True)

        async def stuck_send(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                await anyio.sleep_forever()  # the client's socket buffer stays full

        response = RelayResponse(
            _body(), on_close=on_close, media_type="text/event-stream", headers={},
            send_timeout_s=0.1,
        )  # fmt: skip
        with anyio.fail_after(5):
            await response(SCOPE, _never_disconnects, stuck_send)
        assert closed == [True]

    async def test_a_healthy_stream_is_sent_whole_and_then_closed(self) -> None:
        closed: list[bool] = []
        sent: list[bytes] = []

        async def on_close() -> None:
            closed.append(True)

        async def send(message: Message) -> None:
            if message["type"] == "http.response.body":
                sent.append(message.get("body", b""))

        response = RelayResponse(
            _body(), on_close=on_close, media_type="text/event-stream", headers={},
            send_timeout_s=0.1,
        )  # fmt: skip
        with anyio.fail_after(5):
            await response(SCOPE, _never_disconnects, send)
        assert b"".join(sent) == b"data: {}\n\n" * 3
        assert closed == [True]
