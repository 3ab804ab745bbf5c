"""Clients that hang up mid-body, drip their body, idle on a connection or pile up connections:
each is the caller's fault (never a 500, never a ``frugal`` fault, never a traceback)."""

from __future__ import annotations

import contextlib
import json
import logging

import aiohttp
import anyio
import pytest
from anyio.abc import SocketStream
from prometheus_client.parser import text_string_to_metric_families

from server.config import load_settings
from server.request_log import REQUEST_LOGGER
from server.settings import Settings
from tests.support.gateway import RunningGateway, run_gateway

pytestmark = pytest.mark.anyio

FAST_SIMULATED = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}
_HALF_BODY = b'{"message": "How do I reset my'


def settings(**extra: str) -> Settings:
    return load_settings({**FAST_SIMULATED, **extra})


async def connect(gw: RunningGateway) -> SocketStream:
    port = int(gw.base_url.rsplit(":", 1)[1])
    return await anyio.connect_tcp("127.0.0.1", port)


def head(path: str, content_length: int, *, keep_alive: bool = False) -> bytes:
    connection = "keep-alive" if keep_alive else "close"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\nConnection: {connection}\r\n\r\n"
    ).encode()


async def read_response(stream: SocketStream) -> bytes:
    received = b""
    with anyio.fail_after(10):
        while True:
            try:
                received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return received


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def error_counts(exposition: str) -> dict[tuple[str, str], float]:
    """``frugal_errors_total`` by (fault, code)."""
    return {
        (sample.labels["fault"], sample.labels["code"]): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "frugal_errors_total"
    }


async def metrics_text(gw: RunningGateway) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{gw.base_url}/metrics") as response:
        return await response.text()


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == REQUEST_LOGGER
    ]


class TestClientDisconnectMidBody:
    async def test_is_a_caller_fault_not_a_500(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO)
        async with run_gateway(settings()) as gw:
            for path in ("/chat", "/v1/chat/completions"):
                stream = await connect(gw)
                await stream.send(head(path, 200) + _HALF_BODY)
                await anyio.sleep(0.05)
                await stream.aclose()
            with anyio.fail_after(10):
                while len(request_lines(caplog)) < 2:
                    await anyio.sleep(0.02)
            errors = error_counts(await metrics_text(gw))
        lines = request_lines(caplog)
        assert {line["error_code"] for line in lines} == {"client_closed_request"}
        assert {line["fault"] for line in lines} == {"caller"}
        assert {line["status"] for line in lines} == {499}
        assert errors.get(("caller", "client_closed_request")) == 2
        assert not [fault for fault, _ in errors if fault == "frugal"]
        assert not [record for record in caplog.records if record.exc_info]


class TestBodyReadTimeout:
    async def test_a_body_that_never_arrives_is_408(self) -> None:
        async with run_gateway(settings(FRUGAL_SERVER_BODY_READ_TIMEOUT_S="0.5")) as gw:
            async with await connect(gw) as stream:
                await stream.send(head("/chat", 200) + _HALF_BODY)
                response = await read_response(stream)
            errors = error_counts(await metrics_text(gw))
        assert status_of(response) == 408
        assert b'"request_timeout"' in response
        assert errors.get(("caller", "request_timeout")) == 1

    async def test_a_dripping_body_is_cut_after_the_total_time(self) -> None:
        body = b'{"message": "' + b"x" * 40 + b'"}'
        gateway = run_gateway(settings(FRUGAL_SERVER_BODY_READ_TIMEOUT_S="0.5"))
        async with gateway as gw, await connect(gw) as stream:
            await stream.send(head("/chat", len(body)))
            started = anyio.current_time()

            async def drip() -> None:  # one byte every 0.1 s: progress, but too slow
                with contextlib.suppress(anyio.BrokenResourceError):
                    for byte in body:
                        await stream.send(bytes([byte]))
                        await anyio.sleep(0.1)

            async with anyio.create_task_group() as group:
                group.start_soon(drip)
                response = await read_response(stream)
                group.cancel_scope.cancel()
        assert status_of(response) == 408
        assert anyio.current_time() - started < 3

    async def test_a_prompt_body_is_still_answered(self) -> None:
        async with (
            run_gateway(settings(FRUGAL_SERVER_BODY_READ_TIMEOUT_S="0.5")) as gw,
            aiohttp.ClientSession() as http,
            http.post(f"{gw.base_url}/chat", json={"message": "hello"}) as response,
        ):
            assert response.status == 200


class TestConnectionLimits:
    async def test_idle_keep_alive_connection_is_closed(self) -> None:
        gateway = run_gateway(settings(FRUGAL_SERVER_KEEP_ALIVE_TIMEOUT_S="1"))
        async with gateway as gw, await connect(gw) as stream:
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            started = anyio.current_time()
            response = await read_response(stream)  # returns when the server closes
        assert status_of(response) == 200
        assert 0.8 < anyio.current_time() - started < 5

    async def test_past_the_connection_limit_requests_get_503(self) -> None:
        gateway = run_gateway(settings(FRUGAL_SERVER_MAX_CONCURRENT_CONNECTIONS="2"))
        async with gateway as gw, aiohttp.ClientSession() as http:
            async with http.get(f"{gw.base_url}/healthz") as alone:
                assert alone.status == 200
            # a connection that sends nothing still holds a slot
            async with await connect(gw), http.get(f"{gw.base_url}/healthz") as crowded:
                assert crowded.status == 503


async def drip(stream: SocketStream, data: bytes, *, every_s: float = 0.05) -> int:
    """Send ``data`` a byte at a time; the number of bytes sent before the server hung up."""
    sent = 0
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        for byte in data:
            await stream.send(bytes([byte]))
            sent += 1
            await anyio.sleep(every_s)
    return sent


class TestHeaderReadTimeout:
    """Defect 11: slow-drip connections were held for as long as the client liked."""

    async def test_dripping_headers_are_cut_while_other_clients_are_served(self) -> None:
        header = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"y" * 400 + b"\r\n\r\n"
        gateway = run_gateway(settings(FRUGAL_SERVER_HEADER_READ_TIMEOUT_S="0.5"))
        async with gateway as gw, await connect(gw) as stream, aiohttp.ClientSession() as http:
            async with anyio.create_task_group() as group:
                sent: list[int] = []

                async def dripper() -> None:
                    sent.append(await drip(stream, header))

                group.start_soon(dripper)
                for _ in range(5):  # served meanwhile, on other connections
                    async with http.get(f"{gw.base_url}/healthz") as other:
                        assert other.status == 200
                response = await read_response(stream)
            assert status_of(response) == 408
            assert b'"request_timeout"' in response
            assert sent[0] < len(header)  # cut long before the drip was done

    async def test_a_connection_that_sends_nothing_is_closed(self) -> None:
        gateway = run_gateway(settings(FRUGAL_SERVER_HEADER_READ_TIMEOUT_S="0.3"))
        async with gateway as gw, await connect(gw) as stream:
            response = await read_response(stream)
        assert status_of(response) == 408

    async def test_the_next_request_on_a_kept_alive_connection_is_timed_too(self) -> None:
        gateway = run_gateway(
            settings(
                FRUGAL_SERVER_HEADER_READ_TIMEOUT_S="0.5", FRUGAL_SERVER_KEEP_ALIVE_TIMEOUT_S="30"
            )
        )
        async with gateway as gw, await connect(gw) as stream:
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = b""
            while b'"ok"' not in first:
                first += await stream.receive()
            second = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 400
            async with anyio.create_task_group() as group:
                group.start_soon(drip, stream, second)
                response = await read_response(stream)
                group.cancel_scope.cancel()
        assert status_of(first) == 200
        assert status_of(response) == 408

    async def test_a_body_the_route_never_reads_does_not_keep_the_connection(self) -> None:
        gateway = run_gateway(settings(FRUGAL_SERVER_KEEP_ALIVE_TIMEOUT_S="30"))
        async with gateway as gw, await connect(gw) as stream:
            # /healthz reads no body: it answers, then the connection closes instead of
            # waiting for the 10,000 bytes announced
            await stream.send(head("/healthz", 10_000, keep_alive=True) + b"{")
            response = await read_response(stream)
        assert status_of(response) == 405

    async def test_the_rest_of_an_unread_body_does_not_reset_the_answer(self) -> None:
        # The answer sits unread in the client's buffer while the rest of the body goes out.
        # A server that closed at once would answer those bytes with a reset, and a reset
        # throws the unread answer away (a client then sees "connection reset by peer").
        gateway = run_gateway(settings(FRUGAL_SERVER_KEEP_ALIVE_TIMEOUT_S="30"))
        async with gateway as gw, await connect(gw) as stream:
            await stream.send(head("/healthz", 20_000, keep_alive=True) + b"{")
            await anyio.sleep(0.3)  # answered, and (without lingering) closed by now
            await stream.send(b" " * 19_999)
            await anyio.sleep(0.3)
            received = b""
            with anyio.fail_after(10):
                while True:
                    try:
                        received += await stream.receive()
                    except anyio.EndOfStream:
                        break
        assert status_of(received) == 405
        assert received.endswith(b"}")  # the whole JSON error body


class TestConnectionsPerClient:
    async def test_an_address_over_its_cap_is_refused_and_others_are_served(self) -> None:
        gateway = run_gateway(settings(FRUGAL_SERVER_MAX_CONNECTIONS_PER_CLIENT="2"))
        async with gateway as gw:
            first, second = await connect(gw), await connect(gw)
            async with first, second:
                async with await connect(gw) as third:
                    refused = await read_response(third)
                # another client address is not affected by 127.0.0.1's connections
                connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
                async with (
                    aiohttp.ClientSession(connector=connector) as other,
                    other.get(f"{gw.base_url}/healthz") as response,
                ):
                    assert response.status == 200
            # both closed: 127.0.0.1 may connect again
            async with aiohttp.ClientSession() as http:
                with anyio.fail_after(5):
                    while True:
                        try:
                            async with http.get(f"{gw.base_url}/healthz") as again:
                                if again.status == 200:
                                    break
                        except aiohttp.ClientError:
                            pass
                        await anyio.sleep(0.05)
        assert status_of(refused) == 429
        assert b'"rate_limited"' in refused and b"retry-after: 1" in refused.lower()
