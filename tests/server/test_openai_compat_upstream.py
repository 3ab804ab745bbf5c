"""The OpenAI-compatible API in front of the upstream simulator, over the real OpenAI wire:
usage from the provider, finish reasons, disconnect cancellation, mid-stream failures, and
transparency (the caller's body reaches the provider as sent, the provider's ids come back)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import aiohttp
import anyio
import msgspec
import openai
import pytest
from openai import AsyncOpenAI

from server.config import load_settings
from simulator import SimConfig
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.openai_sdk import sse_chunks, user, with_sync_client
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope so the shared gateway below lives in one event loop for the whole module.
    return "asyncio"


@dataclass
class Wire:
    """A gateway whose provider is the upstream simulator, over the real OpenAI wire."""

    sim: RunningSimulator
    gateway: RunningGateway

    @contextmanager
    def configured(self, config: SimConfig) -> Iterator[RunningSimulator]:
        """The simulator with ``config`` and fresh counters for the duration of a test."""
        state = self.sim.state
        saved, state.config = state.config, config
        self.sim.reset()
        try:
            yield self.sim
        finally:
            state.config = saved

    def client(self) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=f"{self.gateway.base_url}/v1", api_key="k", max_retries=0)


@pytest.fixture(scope="module")
async def wire() -> AsyncIterator[Wire]:
    async with run_simulator() as sim:
        settings = load_settings({"OPENAI_BASE_URL": f"{sim.base_url}/v1", "OPENAI_API_KEY": "k"})
        async with run_gateway(settings) as gw:
            yield Wire(sim, gw)


class TestRealWire:
    async def test_usage_comes_from_the_provider(self, wire: Wire) -> None:
        with wire.configured(SimConfig()) as sim:
            completion = await with_sync_client(
                wire.gateway.base_url,
                lambda c: c.chat.completions.create(
                    model="gpt-4o", messages=user("Where is my order?")
                ),
            )
            stats = sim.stats()
            assert stats.requests.get("chat.completions") == 1
            assert completion.usage is not None
            assert completion.usage.prompt_tokens == stats.prompt_tokens > 0
            assert completion.usage.completion_tokens == stats.completion_tokens > 0
            sim.reset()
            async with wire.client() as c:
                stream = await c.chat.completions.create(
                    model="gpt-4o",
                    messages=user("How do I close my account?"),
                    stream=True,
                    stream_options={"include_usage": True},
                )
                chunks = [chunk async for chunk in stream]
            stats = sim.stats()
            usage = chunks[-1].usage
            assert stats.streams_completed == 1
            assert usage is not None
            assert usage.prompt_tokens == stats.prompt_tokens > 0
            assert usage.completion_tokens == stats.completion_tokens > 0

    async def test_max_tokens_cut_reports_finish_reason_length(self, wire: Wire) -> None:
        with wire.configured(SimConfig(output_tokens=50)):
            async with wire.client() as c:
                whole = await c.chat.completions.create(
                    model="gpt-4o", messages=user("Explain your plans."), max_tokens=5
                )
                stream = await c.chat.completions.create(
                    model="gpt-4o",
                    messages=user("Explain your pricing."),
                    max_tokens=5,
                    stream=True,
                )
                reasons = [
                    chunk.choices[0].finish_reason
                    async for chunk in stream
                    if chunk.choices and chunk.choices[0].finish_reason
                ]
        assert whole.choices[0].finish_reason == "length"
        assert whole.usage is not None and whole.usage.completion_tokens == 5
        assert reasons == ["length"]

    async def test_client_disconnect_cancels_the_upstream_stream(
        self, wire: Wire, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="frugal.server")
        slow = SimConfig(tokens_per_s=50.0, output_tokens=400)
        with wire.configured(slow) as sim:
            async with wire.client() as c:
                stream = await c.chat.completions.create(
                    model="gpt-4o", messages=user("Tell me about your plans."), stream=True
                )
                received = 0
                async for chunk in stream:
                    received += bool(chunk.choices and chunk.choices[0].delta.content)
                    if received == 3:
                        break
                await stream.close()
                with anyio.fail_after(10):
                    while sim.stats().streams_cancelled < 1:
                        await anyio.sleep(0.02)
                    while not any(
                        "chat.completions stream" in r.getMessage() for r in caplog.records
                    ):
                        await anyio.sleep(0.02)
            stats = sim.stats()
        assert stats.streams_completed == 0
        assert 3 <= stats.completion_tokens < 400
        # The route logs what the pipeline billed: a cancelled stream, not a completed one.
        [line] = [m for r in caplog.records if "chat.completions stream" in (m := r.getMessage())]
        assert " cancelled model=gpt-4o " in line

    async def test_mid_stream_failure_raises_api_error(self, wire: Wire) -> None:
        with wire.configured(SimConfig(rate_disconnect=1.0)):
            async with wire.client() as c:
                stream = await c.chat.completions.create(
                    model="gpt-4o", messages=user("What payment methods do you take?"), stream=True
                )
                texts: list[str] = []
                with pytest.raises(openai.APIError) as caught:
                    async for chunk in stream:
                        texts.append(chunk.choices[0].delta.content or "")
        assert "".join(texts)  # some text arrived before the failure
        assert caught.value.code == "stream_interrupted"


class TestTransparency:
    async def test_the_body_reaches_the_provider_unchanged(self, wire: Wire) -> None:
        body = msgspec.json.encode(
            {
                "model": "gpt-4o",
                "messages": user("Where is my parcel?"),
                "colour": "red",
                "n": 2,
                "top_p": 0.5,
                "logprobs": True,
                "presence_penalty": 0.25,
            }
        )
        with wire.configured(SimConfig()) as sim:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{wire.gateway.base_url}/v1/chat/completions",
                    data=body,
                    headers={"content-type": "application/json"},
                ) as resp,
            ):
                completion = await resp.json()
                assert resp.status == 200, completion
            [received] = [r for r in sim.state.received() if r.path.endswith("/chat/completions")]
        assert msgspec.json.decode(received.raw) == msgspec.json.decode(body)
        assert received.raw == body  # byte for byte: the model was not rerouted
        assert len(completion["choices"]) == 2  # n=2 went through and came back

    async def test_the_provider_completion_id_is_kept(self, wire: Wire) -> None:
        with wire.configured(SimConfig()):
            async with wire.client() as c:
                raw = await c.chat.completions.with_raw_response.create(
                    model="gpt-4o", messages=user("Can I track my order?")
                )
        completion = raw.parse()
        assert completion.id.startswith("chatcmpl-")
        assert completion.id != f"chatcmpl-{raw.headers['x-request-id']}"
        assert (completion.model_extra or {})["frugal"]["request_id"] == raw.headers["x-request-id"]

    async def test_usage_chunk_only_when_asked_and_the_cost_in_a_comment(self, wire: Wire) -> None:
        url = f"{wire.gateway.base_url}/v1/chat/completions"
        texts: dict[bool, str] = {}
        with wire.configured(SimConfig()):
            async with aiohttp.ClientSession() as http:
                for include_usage in (False, True):
                    payload: dict[str, object] = {
                        "model": "gpt-4o",
                        "messages": user(f"What are your opening hours ({include_usage})?"),
                        "stream": True,
                    }
                    if include_usage:
                        payload["stream_options"] = {"include_usage": True}
                    async with http.post(url, json=payload) as resp:
                        assert resp.status == 200
                        texts[include_usage] = await resp.text()
        for include_usage, text in texts.items():
            chunks, [info], kinds = sse_chunks(text)
            assert kinds[-2:] == ["frugal", "done"]
            usage_chunks = [c for c in chunks if c.get("usage")]
            assert len(usage_chunks) == int(include_usage), include_usage
            assert info["cost_usd_micros"] > 0 and info["model"] == "gpt-4o"


class TestBrokenStream:
    async def test_a_broken_stream_ends_with_an_error_line_and_its_bill(self, wire: Wire) -> None:
        payload = {
            "model": "gpt-4o",
            "messages": user("Which couriers do you use?"),
            "stream": True,
        }
        with wire.configured(SimConfig(rate_disconnect=1.0)):
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{wire.gateway.base_url}/v1/chat/completions", json=payload) as resp,
            ):
                assert resp.status == 200
                text = await resp.text()
        chunks, [info], kinds = sse_chunks(text)
        assert kinds[-2:] == ["data", "frugal"]  # no [DONE] after a failure
        error = chunks[-1]["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "stream_interrupted"
        assert any(c.get("choices") for c in chunks[:-1])  # some text came first
        assert info["error"] == "stream_interrupted"
        assert info["cost_usd_micros"] > 0  # the tokens produced were billed
