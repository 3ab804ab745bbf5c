"""``/v1/responses`` passed through to a provider that speaks the Responses API (the
simulator's, declared with ``FRUGAL_PROVIDERS_OPENAI_RESPONSES=true``): the caller's bytes
reach it unchanged, its answer comes back as it sent it, usage is billed from its ``usage``,
the exact cache replays in Responses shape, and ``previous_response_id`` continues from
Frugal's per-tenant store. A model on another provider is still translated."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI

from server.config import load_settings
from tests.server.v1_drop_in.support import CACHE
from tests.support.cost_http import stats_of
from tests.support.gateway import run_gateway
from tests.support.simulator import run_simulator
from tests.support.v1 import TIME_TOOL, WEATHER_TOOL, SimGateway

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"
PATH = "/v1/responses"
TOOLS = [{"type": "function", **tool["function"]} for tool in (WEATHER_TOOL, TIME_TOOL)]


@pytest.fixture(scope="module")
async def native() -> AsyncIterator[SimGateway]:
    async with run_simulator() as sim:
        env = {
            "OPENAI_BASE_URL": f"{sim.base_url}/v1",
            "OPENAI_API_KEY": "k",
            "FRUGAL_PROVIDERS_OPENAI_RESPONSES": "true",
            "ANTHROPIC_BASE_URL": sim.base_url,
            "ANTHROPIC_API_KEY": "k",
        }
        async with run_gateway(load_settings(env)) as gw:
            yield SimGateway(sim, gw)


@pytest.fixture
async def client(native: SimGateway) -> AsyncIterator[AsyncOpenAI]:
    async with native.client() as c:
        yield c


def received(gw: SimGateway) -> int:
    return sum(1 for r in gw.sim.state.received() if r.path == PATH)


class TestPassthrough:
    async def test_the_callers_bytes_and_the_providers_answer(self, native: SimGateway) -> None:
        raw = (
            b'{ "input": "Say hello to the native path", "model": "gpt-4o-mini",'
            b' "temperature": 0.7, "x_unknown": {"kept": [1, 2]} }'
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{native.base_url}{PATH}",
                data=raw,
                headers={"content-type": "application/json"},
            ) as response,
        ):
            assert response.status == 200, await response.text()
            body = await response.read()
            headers = response.headers
        assert native.last_received(PATH) == raw
        answer = json.loads(body)
        assert answer["id"].startswith("resp_sim")  # the provider's own Response
        assert "frugal" not in answer
        assert answer["output"][0]["content"][0]["text"]
        assert headers[CACHE] == "miss"
        assert int(headers["x-frugal-cost-usd-micros"]) > 0

    async def test_usage_is_billed_from_the_provider(
        self, client: AsyncOpenAI, native: SimGateway
    ) -> None:
        async with aiohttp.ClientSession() as http:
            before = await stats_of(http, native.base_url)
            raw = await client.responses.with_raw_response.create(
                model=MODEL, input="Bill this native answer", temperature=0.5
            )
            after = await stats_of(http, native.base_url)
        response = raw.parse()
        assert response.usage is not None
        cost = int(raw.headers["x-frugal-cost-usd-micros"])
        assert cost > 0
        assert after["cost_usd_micros"] - before["cost_usd_micros"] == cost
        assert after["tokens"]["input"] - before["tokens"]["input"] == response.usage.input_tokens
        output = after["tokens"]["output"] - before["tokens"]["output"]
        assert output == response.usage.output_tokens

    async def test_stream_events_come_as_the_provider_sent_them(
        self, client: AsyncOpenAI, native: SimGateway
    ) -> None:
        raw = await client.responses.with_raw_response.create(
            model=MODEL, input="Stream hello natively", stream=True, extra_body={"x_odd": 1}
        )
        events = [event async for event in raw.parse()]
        kinds = [event.type for event in events]
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert kinds[-1] == "response.completed"
        assert [e.sequence_number for e in events] == list(range(len(events)))
        final = events[-1].response
        assert final.id.startswith("resp_sim") and final.usage is not None
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text == final.output_text
        assert json.loads(native.last_received(PATH))["x_odd"] == 1


class TestCache:
    async def test_exact_hit_replays_as_a_response(
        self, client: AsyncOpenAI, native: SimGateway
    ) -> None:
        ask = {"model": MODEL, "input": "Cache this native answer", "temperature": 0}
        first = await client.responses.with_raw_response.create(**ask)
        sent = received(native)
        again = await client.responses.with_raw_response.create(**ask)
        assert (first.headers[CACHE], again.headers[CACHE]) == ("miss", "exact")
        assert received(native) == sent  # the hit never reached the provider
        assert again.parse().output_text == first.parse().output_text
        assert again.parse().object == "response"
        assert again.headers["x-frugal-cost-usd-micros"] == "0"

    async def test_exact_hit_replays_as_a_stream(
        self, client: AsyncOpenAI, native: SimGateway
    ) -> None:
        ask: dict[str, Any] = {"model": MODEL, "input": "Cache this stream", "temperature": 0}
        texts = []
        for expected in ("miss", "exact"):
            raw = await client.responses.with_raw_response.create(**ask, stream=True)
            assert raw.headers[CACHE] == expected
            events = [event async for event in raw.parse()]
            assert events[-1].type == "response.completed"
            texts.append(events[-1].response.output_text)
        assert texts[0] and texts[0] == texts[1]


class TestTools:
    async def test_two_turns_with_previous_response_id(
        self, client: AsyncOpenAI, native: SimGateway
    ) -> None:
        first = await client.responses.create(
            model=MODEL, input="What is the weather in Oslo for 4 days?", tools=TOOLS
        )
        [call] = [item for item in first.output if item.type == "function_call"]
        assert call.name == "get_weather" and first.id.startswith("resp_sim")
        async with client.responses.stream(
            model=MODEL,
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Snow"}],
            tools=TOOLS,
        ) as stream:
            final = await stream.get_final_response()
        assert "Snow" in final.output_text
        sent = json.loads(native.last_received(PATH))
        assert "previous_response_id" not in sent  # Frugal's store, expanded
        kinds = [item.get("type", "message") for item in sent["input"]]
        assert kinds == ["message", "function_call", "function_call_output"]
        assert sent["input"][1]["call_id"] == call.call_id
        third = await client.responses.create(
            model=MODEL, previous_response_id=final.id, input="And in Bergen?"
        )
        assert third.output_text
        assert len(json.loads(native.last_received(PATH))["input"]) == 5


class TestTranslatedElsewhere:
    async def test_a_model_on_a_provider_without_responses(
        self, client: AsyncOpenAI, native: SimGateway
    ) -> None:
        before = received(native)
        response = await client.responses.create(model="claude-haiku-4-5", input="Hi there")
        assert response.output_text and response.id.startswith("resp_")
        assert not response.id.startswith("resp_sim")
        assert received(native) == before
        assert json.loads(native.last_received("/v1/messages"))["messages"]


class TestBroken:
    async def test_a_cut_native_stream_ends_with_error_and_failed(self, native: SimGateway) -> None:
        async with aiohttp.ClientSession() as http:
            pin = {"model": "gpt-4o", "fault": "disconnect"}
            async with http.put(f"{native.sim.base_url}/_sim/faults", json=pin) as response:
                assert response.status == 200
            try:
                body = {"model": "gpt-4o", "input": "Tell me a long story", "stream": True}
                async with http.post(f"{native.base_url}{PATH}", json=body) as response:
                    assert response.status == 200
                    text = await response.text()
            finally:
                clear = {"model": "gpt-4o", "fault": None}
                async with http.put(f"{native.sim.base_url}/_sim/faults", json=clear):
                    pass
        names = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
        assert names[0] == "response.created"  # the provider's, relayed
        assert names[-2:] == ["error", "response.failed"]
        assert "response.completed" not in names
