"""`lean_closed_loop` against real aiohttp servers (and the simulator) on loopback sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import pytest
from aiohttp import web

from bench.lean_http import encode_requests, lean_closed_loop
from tests.support.redis_server import free_port
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

HEADERS = {"content-type": "application/octet-stream", "x-test": "lean"}


@dataclass
class Seen:
    """What the test server saw."""

    bodies: list[bytes] = field(default_factory=list)
    answered: int = 0
    # Connections by identity, each kept alive so no id is reused (peer addresses can be:
    # hundreds of short connections a second cycle through the client's ephemeral ports).
    connections: dict[int, object] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class RunningServer:
    url: str
    seen: Seen
    runner: web.AppRunner

    def open_connections(self) -> int:
        assert self.runner.server is not None
        return len(self.runner.server.connections)


def make_app(seen: Seen) -> web.Application:
    async def record(request: web.Request) -> bytes:
        body = await request.read()
        seen.bodies.append(body)
        seen.connections[id(request.transport)] = request.transport
        return body

    async def echo(request: web.Request) -> web.Response:
        body = await record(request)
        seen.answered += 1
        return web.Response(body=b"echo:" + body)

    async def status(request: web.Request) -> web.Response:
        body = await record(request)
        seen.answered += 1
        return web.Response(status=503 if body == b"bad" else 200, body=b"{}")

    async def chunked(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"first chunk;")
        await asyncio.sleep(0.05)  # the client must wait for the rest
        await response.write(b"second chunk;" * 100)
        await response.write_eof()
        seen.answered += 1
        return response

    async def close(request: web.Request) -> web.Response:
        await record(request)
        response = web.Response(body=b"bye")
        response.force_close()
        seen.answered += 1
        return response

    async def stuck(request: web.Request) -> web.Response:
        await record(request)
        await seen.release.wait()
        return web.Response(body=b"late")

    app = web.Application()
    for path, handler in [("/echo", echo), ("/status", status), ("/chunked", chunked),
                          ("/close", close), ("/stuck", stuck)]:  # fmt: skip
        app.router.add_post(path, handler)
    return app


@asynccontextmanager
async def run_server() -> AsyncIterator[RunningServer]:
    seen = Seen()
    runner = web.AppRunner(make_app(seen), shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        yield RunningServer(f"http://127.0.0.1:{port}", seen, runner)
    finally:
        seen.release.set()
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with run_server() as running:
        yield running


class TestLeanClosedLoop:
    @pytest.mark.parametrize(
        "anyio_backend",
        [("asyncio", {}), ("asyncio", {"use_uvloop": True})],
        ids=["asyncio", "uvloop"],
    )
    async def test_counts_match_what_the_server_answered(self, anyio_backend: object) -> None:
        async with run_server() as server:
            started = time.perf_counter()
            sample = await lean_closed_loop(
                f"{server.url}/echo", [b"a", b"bb", b"ccc"], headers=HEADERS,
                concurrency=4, duration_s=0.3,
            )  # fmt: skip
            assert time.perf_counter() - started < 5  # generous: requests start for 0.3 s
            assert sample.errors == 0
            assert len(sample.latencies_ms) == server.seen.answered > 10
            assert set(server.seen.bodies) == {b"a", b"bb", b"ccc"}
            assert len(server.seen.connections) == 4  # one keep-alive connection per worker
            assert sample.elapsed_s >= 0.3
            assert sample.rate == pytest.approx(len(sample.latencies_ms) / sample.elapsed_s)

    async def test_non_200_status_counts_as_error(self, server: RunningServer) -> None:
        sample = await lean_closed_loop(
            f"{server.url}/status", [b"good", b"bad"], headers=HEADERS,
            concurrency=2, duration_s=0.2,
        )  # fmt: skip
        bad = server.seen.bodies.count(b"bad")
        assert bad > 0
        assert sample.errors == bad
        assert len(sample.latencies_ms) == server.seen.bodies.count(b"good")

    async def test_chunked_response_is_read_to_its_end(self, server: RunningServer) -> None:
        sample = await lean_closed_loop(
            f"{server.url}/chunked", [b"x"], headers=HEADERS, concurrency=2, duration_s=0.2
        )
        assert sample.errors == 0
        assert len(sample.latencies_ms) == server.seen.answered > 0
        # Counted only once the last chunk arrived, 50 ms after the first.
        assert min(sample.latencies_ms) >= 45  # asyncio may wake a timer a tick early

    async def test_connection_close_reconnects_without_errors(self, server: RunningServer) -> None:
        sample = await lean_closed_loop(
            f"{server.url}/close", [b"x"], headers=HEADERS, concurrency=2, duration_s=0.2
        )
        assert sample.errors == 0
        assert len(sample.latencies_ms) == server.seen.answered > 2
        assert len(server.seen.connections) == server.seen.answered  # a fresh one each time

    async def test_start_offsets_the_round_robin(self, server: RunningServer) -> None:
        bodies = [b"0", b"1", b"2", b"3"]
        await lean_closed_loop(
            f"{server.url}/echo", bodies, headers=HEADERS, concurrency=1, duration_s=0.1, start=2
        )
        seen = server.seen.bodies
        assert len(seen) > 4
        assert seen == [bodies[(2 + i) % 4] for i in range(len(seen))]

    async def test_stuck_server_times_out_as_errors(self, server: RunningServer) -> None:
        started = time.perf_counter()
        sample = await lean_closed_loop(
            f"{server.url}/stuck", [b"x"], headers=HEADERS, concurrency=3, duration_s=0.05,
            request_timeout_s=0.2,
        )  # fmt: skip
        assert time.perf_counter() - started < 3
        assert sample.latencies_ms == []
        assert sample.errors == 3

    async def test_closes_every_socket_on_return(self, server: RunningServer) -> None:
        await lean_closed_loop(
            f"{server.url}/echo", [b"x"], headers=HEADERS, concurrency=3, duration_s=0.1
        )
        with anyio.fail_after(3):
            while server.open_connections():
                await anyio.sleep(0.01)

    async def test_refused_connection_counts_errors_without_hanging(self) -> None:
        url = f"http://127.0.0.1:{free_port()}/echo"
        sample = await lean_closed_loop(url, [b"x"], headers=HEADERS, concurrency=2, duration_s=0.1)
        assert sample.latencies_ms == []
        assert sample.errors > 0

    async def test_drives_the_simulator(self, sim: RunningSimulator) -> None:
        body = (
            b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Where is my order?"}]}'
        )
        sample = await lean_closed_loop(
            f"{sim.base_url}/v1/chat/completions", [body],
            headers={"authorization": "Bearer t", "content-type": "application/json"},
            concurrency=2, duration_s=0.2,
        )  # fmt: skip
        assert sample.errors == 0
        assert len(sample.latencies_ms) == sim.stats().responses_ok > 0


class TestEncodeRequests:
    def test_request_bytes_carry_path_headers_and_length(self) -> None:
        [request] = encode_requests("http://127.0.0.1:8080/v1/x?q=1", [b"body"], {"a": "b"})
        assert request == (
            b"POST /v1/x?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\na: b\r\n"
            b"Content-Length: 4\r\n\r\nbody"
        )

    @pytest.mark.parametrize(
        ("url", "headers"),
        [("http://example.com/x", {}), ("https://127.0.0.1/x", {}),
         ("http://127.0.0.1:1/x", {"Content-Length": "3"})],
    )  # fmt: skip
    def test_rejects_other_hosts_and_client_headers(
        self, url: str, headers: dict[str, str]
    ) -> None:
        with pytest.raises(ValueError):
            encode_requests(url, [b"x"], headers)
