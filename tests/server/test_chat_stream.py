"""``GET /chat/stream`` over real sockets: events, caching, heartbeats, errors, disconnects.

Each gateway loads MiniLM when it starts, so the gateways (and the simulator behind the
real-wire one) are shared per module; tests use distinct questions so they don't share
cache entries, and the real-wire tests set the simulator's knobs they need.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent.pipeline import Meta, RouteInfo, StreamEvent, StreamOutcome, Token
from server.config import load_settings
from server.event_prefetch import EventPrefetch
from server.routes.stream import event_stream_response
from simulator import SimConfig
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.redis_server import free_port
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

# Quick tokens, but a first token slow enough for several 50 ms heartbeats before it.
EMBEDDED_ENV = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "250",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "250",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
    "FRUGAL_SERVER_SSE_HEARTBEAT_S": "0.05",
    "FRUGAL_AGENT_MAX_PROMPT_TOKENS": "200",
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope, so the gateways below can be shared


@pytest.fixture(scope="module")
async def embedded() -> AsyncIterator[RunningGateway]:
    async with run_gateway(load_settings(EMBEDDED_ENV)) as gateway:
        yield gateway


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[RunningSimulator]:
    async with run_simulator() as running:
        yield running


@pytest.fixture(scope="module")
async def wired(upstream: RunningSimulator) -> AsyncIterator[RunningGateway]:
    env = {"OPENAI_BASE_URL": f"{upstream.base_url}/v1", "OPENAI_API_KEY": "k"}
    async with run_gateway(load_settings(env)) as gateway:
        yield gateway


def configure(sim: RunningSimulator, config: SimConfig) -> None:
    """Give the shared simulator this test's knobs and fresh counters."""
    sim.state.config = config
    sim.reset()


@dataclass
class Stream:
    """What a client read: events (name, decoded data) and heartbeat comments, in order."""

    status: int
    headers: Mapping[str, str]  # case-insensitive
    items: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def events(self) -> list[tuple[str, Any]]:
        return [item for item in self.items if item[0] != ":"]

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def data(self, name: str) -> Any:
        (found,) = [data for kind, data in self.events if kind == name]
        return found

    def text(self) -> str:
        return "".join(data["text"] for name, data in self.events if name == "token")


async def sse_items(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """Parse an event stream: ``(":", comment)`` for comment lines, else ``(event, data)``."""
    name, data = "message", []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith(":"):
            yield ":", line[1:].strip()
        elif line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))
        elif not line and data:
            yield name, msgspec.json.decode("\n".join(data))
            name, data = "message", []


async def read_stream(url: str, **params: str) -> Stream:
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as response:
        stream = Stream(response.status, response.headers.copy())
        assert response.status == 200, await response.text()
        with anyio.fail_after(10):
            stream.items = [item async for item in sse_items(response)]
        return stream


def outcome_records(caplog: pytest.LogCaptureFixture) -> list[StreamOutcome]:
    return [
        vars(record)["stream_outcome"]
        for record in caplog.records
        if record.name == "frugal.server" and "stream_outcome" in vars(record)
    ]


async def wait_for(check: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not check():
            await anyio.sleep(0.02)


class TestStreamEvents:
    async def test_meta_tokens_then_done_with_usage_and_cost(
        self, embedded: RunningGateway, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="frugal.server")
        stream = await read_stream(
            f"{embedded.base_url}/chat/stream", message="How do I reset my password?"
        )
        names = stream.names()
        assert names[0] == "meta" and names[-1] == "done"
        assert set(names[1:-1]) == {"token"} and len(names) > 5
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["Cache-Control"] == "no-cache"
        assert stream.headers["X-Accel-Buffering"] == "no"

        meta, done = stream.data("meta"), stream.data("done")
        assert meta["cache"] is None and meta["simulated"] is True
        assert meta["route"]["tier"] == "cheap" and meta["route"]["model"] == meta["model"]
        assert "password" in stream.text().lower()
        assert done["usage"]["prompt"] > 0 and done["usage"]["completion"] > 0
        assert done["cost_usd_micros"] > 0 and done["cost_known"] is True
        assert done["cache"] is None and done["model"] == meta["model"]
        assert "type" not in meta and "type" not in done
        request_id = stream.headers["X-Request-ID"]
        assert meta["request_id"] == done["request_id"] == request_id

        await wait_for(lambda: bool(outcome_records(caplog)))
        (outcome,) = outcome_records(caplog)
        assert outcome.status == "completed"
        assert outcome.usage.completion == done["usage"]["completion"]
        assert outcome.cost_usd_micros == done["cost_usd_micros"]

    async def test_second_identical_ask_is_an_exact_hit_that_costs_nothing(
        self, embedded: RunningGateway
    ) -> None:
        url = f"{embedded.base_url}/chat/stream"
        first = await read_stream(url, message="How long is the refund window?")
        second = await read_stream(url, message="How long is the refund window?")
        assert second.names()[0] == "meta" and second.names()[-1] == "done"
        assert second.data("meta")["cache"] == "exact"
        done = second.data("done")
        assert done["cache"] == "exact" and done["cost_usd_micros"] == 0
        assert done["saved_usd_micros"] == first.data("done")["cost_usd_micros"] > 0
        assert second.text() == first.text()

    async def test_heartbeat_comments_keep_a_slow_stream_alive(
        self, embedded: RunningGateway
    ) -> None:
        # 250 ms before the first token, heartbeats every 50 ms.
        stream = await read_stream(
            f"{embedded.base_url}/chat/stream",
            message="What are your opening hours?",
            cache="no-cache",
        )
        kinds = [kind for kind, _ in stream.items]
        first_token = kinds.index("token")
        pings = [data for kind, data in stream.items[:first_token] if kind == ":"]
        assert len(pings) >= 2 and all(ping.startswith("ping") for ping in pings)
        # A heartbeat may still go out between `done` and the close (a comment: clients skip it).
        events = [kind for kind in kinds if kind != ":"]
        assert events[0] == "meta" and events[-1] == "done"

    async def test_head_runs_no_pipeline(self, embedded: RunningGateway) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.head(f"{embedded.base_url}/chat/stream", params={"message": "hi"}) as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert await response.read() == b""


class TestRefusals:
    @pytest.mark.parametrize(
        ("query", "status", "code"),
        [
            ("", 422, "invalid_request"),
            ("session_id=s1", 422, "invalid_request"),
            ("message=hi&colour=red", 422, "unknown_field"),
            ("message=hi&cache=sometimes", 422, "invalid_request"),
            ("message=hi&message=again", 422, "invalid_request"),
            ("message=" + "x" * 32_001, 422, "invalid_request"),
            ("message=hi&session_id=" + "s" * 201, 422, "invalid_request"),
            ("message=%20%20", 422, "empty_content"),  # raised by the pipeline, before meta
            ("message=" + "word%20" * 400, 413, "prompt_too_long"),  # over 200 tokens
        ],
    )
    async def test_bad_query_is_a_json_error_not_a_stream(
        self, embedded: RunningGateway, query: str, status: int, code: str
    ) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{embedded.base_url}/chat/stream?{query}") as response,
        ):
            assert response.content_type == "application/json"
            body = await response.json()
        assert response.status == status, body
        assert body["error"]["code"] == code and body["error"]["message"]


class TestOverTheWire:
    async def test_upstream_cut_mid_stream_ends_with_an_error_event(
        self,
        upstream: RunningSimulator,
        wired: RunningGateway,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="frugal.server")
        configure(upstream, SimConfig(output_tokens=40, rate_disconnect=1.0))
        stream = await read_stream(f"{wired.base_url}/chat/stream", message="Where is my order?")
        names = stream.names()
        assert names[0] == "meta" and names[-1] == "error" and "token" in names
        assert "done" not in names
        error = stream.data("error")
        assert error["code"] == "stream_interrupted" and error["message"]
        assert error["request_id"] == stream.data("meta")["request_id"]
        assert upstream.stats().streams_aborted == 1

        await wait_for(lambda: bool(outcome_records(caplog)))
        (outcome,) = outcome_records(caplog)
        assert outcome.status == "failed" and outcome.error_code == "stream_interrupted"
        assert outcome.usage.completion > 0  # the tokens that did arrive are billed

    async def test_client_disconnect_stops_the_upstream_and_bills_what_was_produced(
        self,
        upstream: RunningSimulator,
        wired: RunningGateway,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="frugal.server")
        # 300 tokens at 100/s: six seconds if nobody stopped it.
        configure(upstream, SimConfig(output_tokens=300, tokens_per_s=100.0))
        tokens = 0
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{wired.base_url}/chat/stream", params={"message": "How do I update my card?"}
            ) as response,
        ):
            assert response.status == 200
            async for name, _ in sse_items(response):
                tokens += name == "token"
                if tokens == 3:
                    break
            response.close()

        await wait_for(lambda: upstream.stats().streams_cancelled == 1)
        (record,) = upstream.stats().streams
        assert record.outcome == "cancelled"
        assert 3 <= record.sent_tokens < record.planned_tokens == 300

        await wait_for(lambda: bool(outcome_records(caplog)))
        (outcome,) = outcome_records(caplog)
        assert outcome.status == "cancelled"
        assert 0 < outcome.usage.completion < 300
        assert outcome.usage.estimated is True  # the provider's count never arrived
        assert outcome.cost_usd_micros > 0

    async def test_an_abandoned_json_answer_stops_the_upstream_and_is_billed_once(
        self, upstream: RunningSimulator, wired: RunningGateway
    ) -> None:
        # Defect 15 of #16: POST /chat kept its upstream call running after the client left.
        configure(upstream, SimConfig(output_tokens=300, tokens_per_s=100.0))
        async with aiohttp.ClientSession() as http:
            before = (await (await http.get(f"{wired.base_url}/stats")).json())["calls"]
        async with aiohttp.ClientSession() as http:
            with anyio.move_on_after(1.0):
                await http.post(
                    f"{wired.base_url}/chat",
                    json={"message": f"Can I pay by card {uuid.uuid4().hex[:6]}?"},
                )
        # The session is closed: the connection is gone, six seconds before the answer.
        await wait_for(lambda: upstream.stats().streams_cancelled == 1)
        (record,) = upstream.stats().streams
        assert 0 < record.sent_tokens < record.planned_tokens == 300

        async def counted() -> dict[str, Any]:
            async with aiohttp.ClientSession() as http:
                return dict(await (await http.get(f"{wired.base_url}/stats")).json())

        with anyio.fail_after(10):
            while (stats := await counted())["calls"] == before:
                await anyio.sleep(0.05)
        assert stats["calls"] == before + 1
        assert stats["cost_usd_micros"] > 0  # the produced tokens are billed
        await anyio.sleep(0.3)
        assert (await counted())["calls"] == before + 1  # once, not again as an error


# -- the response's own failure handling, with a stand-in pipeline ---------------------------


@dataclass
class FakePipeline:
    """A stream that sends one token and then fails with a bug (not an `AgentError`)."""

    closed: bool = False

    async def events(self) -> AsyncGenerator[StreamEvent, None]:
        try:
            yield Token("partial ")
            raise RuntimeError("secret detail /srv/app.py line 12")
        finally:
            self.closed = True


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


async def test_unexpected_failure_ends_with_an_internal_error_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="frugal.server")
    pipeline = FakePipeline()
    meta = Meta("m", RouteInfo("cheap", "test", "m"), None, "req-1")

    async def endpoint(request: Request) -> Response:
        return event_stream_response(
            meta,
            EventPrefetch(pipeline.events()),
            StreamOutcome(),
            simulated=False,
            heartbeat_s=15.0,
        )

    async with serve(Starlette(routes=[Route("/s", endpoint)])) as base_url:
        stream = await read_stream(f"{base_url}/s")

    assert stream.names() == ["meta", "token", "error"]
    error = stream.data("error")
    assert error == {
        "code": "internal_error",
        "message": error["message"],
        "request_id": "req-1",
        "cost_usd_micros": 0,  # nothing was billed
    }
    assert "secret" not in error["message"] and "Traceback" not in error["message"]
    assert pipeline.closed
    (logged,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], RuntimeError)
    (outcome,) = outcome_records(caplog)
    assert outcome.status == "failed" and outcome.error_code == "internal_error"
