"""Failures that must not cost the caller its answer, through the gateway to the simulator with
the fault injected per model: what the caller received (text, status, error shape, billed
cost) and what the simulator saw (attempts per model, timing)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from server.config import load_settings
from simulator import SimConfig
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.openai_sdk import sse_chunks, stream_frugal
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

PRIMARY, FALLBACK, OTHER = "gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"

CONFIG = """
[[registry.providers]]
name = "cloud"
kind = "openai"
base_url = "{sim}/v1"
api_key_env = "CLOUD_KEY"

[[registry.models]]
name = "gpt-4o"
provider = "cloud"
price = {{input = 2500000, output = 10000000}}
context_window = {primary_window}
fallback = ["gpt-4o-mini"]

[[registry.models]]
name = "gpt-4o-mini"
provider = "cloud"
price = {{input = 150000, output = 600000}}

[[registry.models]]
name = "gpt-4.1-mini"
provider = "cloud"
price = {{input = 400000, output = 1600000}}
fallback = ["gpt-4o-mini"]
"""

ENV = {
    "CLOUD_KEY": "sk-test",
    "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1",
    "FRUGAL_FALLBACK_PRIMARY_TIMEOUT_S": "5",
    "FRUGAL_FALLBACK_TOTAL_DEADLINE_S": "10",
    "FRUGAL_FALLBACK_FIRST_TOKEN_TIMEOUT_S": "0.6",
    "FRUGAL_FALLBACK_STREAM_IDLE_TIMEOUT_S": "0.6",
    "FRUGAL_FALLBACK_BREAKER_FAILURE_THRESHOLD": "2",
    "FRUGAL_FALLBACK_BREAKER_COOLDOWN_S": "0.5",
    "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
}


@dataclass
class Stack:
    sim: RunningSimulator
    gateway: RunningGateway
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"{self.gateway.base_url}/v1/chat/completions"

    async def set_fault(self, model: str, fault: str | None) -> None:
        body = {"model": model, "fault": fault}
        async with self.http.put(f"{self.sim.base_url}/_sim/faults", json=body) as response:
            assert response.status == 200, await response.text()

    async def attempts(self) -> dict[str, int]:
        async with self.http.get(f"{self.sim.base_url}/_sim/stats") as response:
            stats: dict[str, Any] = await response.json()
        return dict(stats["requests_by_model"])

    async def reset(self) -> None:
        async with self.http.post(f"{self.sim.base_url}/_sim/reset") as response:
            assert response.status in (200, 204)

    async def ask(
        self, model: str, question: str, *, stream: bool, **extra: Any
    ) -> tuple[int, dict[str, str], bytes]:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": question}],
            "stream": stream,
            **extra,
        }
        headers = {"x-frugal-cache": "no-store"}
        async with self.http.post(self.url, json=body, headers=headers) as response:
            headers = {name.lower(): value for name, value in response.headers.items()}
            return response.status, headers, await response.read()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    config = SimConfig(tokens_per_s=200.0, output_tokens=12, slow_ttft_ms=3000.0)
    async with run_simulator(config) as sim:
        path = tmp_path / "frugal.toml"
        path.write_text(CONFIG.format(sim=sim.base_url, primary_window=100_000))
        settings = load_settings({**ENV, "FRUGAL_CONFIG": str(path)})
        async with run_gateway(settings) as gateway, aiohttp.ClientSession() as http:
            yield Stack(sim, gateway, http)


def _stream_text(raw: bytes) -> str:
    chunks, _, _ = sse_chunks(raw.decode())
    return "".join(
        (choice.get("delta") or {}).get("content") or ""
        for chunk in chunks
        for choice in chunk.get("choices") or ()
    )


def _whole_text(raw: bytes) -> str:
    completion = msgspec.json.decode(raw)
    return str(completion["choices"][0]["message"]["content"])


class TestCompleteWithoutTheTerminalMarker:
    async def test_a_stream_without_done_but_with_its_finish_is_complete(
        self, stack: Stack
    ) -> None:
        await stack.set_fault(PRIMARY, "no_done")
        status, _, raw = await stack.ask(PRIMARY, "What are your opening hours?", stream=True)
        assert status == 200
        assert raw.rstrip().endswith(b"data: [DONE]")  # the gateway ends the caller's stream
        assert b'"error"' not in raw
        info = stream_frugal(raw.decode())
        assert info["used_fallback"] is False and info["cost_usd_micros"] > 0
        assert _stream_text(raw)
        assert await stack.attempts() == {PRIMARY: 1}


class TestMalformedChunk:
    async def test_a_malformed_chunk_is_skipped_and_the_answer_completes(
        self, stack: Stack
    ) -> None:
        await stack.set_fault(PRIMARY, "malformed_chunk")
        status, _, raw = await stack.ask(PRIMARY, "Do you ship abroad?", stream=True)
        assert status == 200 and b'"error"' not in raw
        assert raw.rstrip().endswith(b"data: [DONE]")
        assert stream_frugal(raw.decode())["used_fallback"] is False
        assert await stack.attempts() == {PRIMARY: 1}


class TestStalledStream:
    async def test_a_stall_after_tokens_is_continued_on_the_fallback_model(
        self, stack: Stack
    ) -> None:
        await stack.set_fault(PRIMARY, "stall")
        started = time.monotonic()
        status, headers, raw = await stack.ask(PRIMARY, "How do I reset my password?", stream=True)
        elapsed = time.monotonic() - started
        assert status == 200 and b'"error"' not in raw
        assert raw.rstrip().endswith(b"data: [DONE]")
        info = stream_frugal(raw.decode())
        assert info["used_fallback"] is True
        assert info["fallback_reason"] == "midstream:upstream_timeout"
        assert info["model"] == FALLBACK
        # Both attempts are billed: the cut one for what it produced, on its own model.
        assert info["cost_usd_micros"] > 0
        assert _stream_text(raw)
        assert await stack.attempts() == {PRIMARY: 1, FALLBACK: 1}
        assert elapsed < 5  # the idle timeout, not the read timeout, noticed the stall
        assert headers["x-frugal-model"] == PRIMARY  # the primary started the answer


class TestSlowFirstToken:
    @pytest.mark.parametrize("stream", [True, False])
    async def test_a_slow_first_token_fails_over_before_anything_is_sent(
        self, stack: Stack, stream: bool
    ) -> None:
        await stack.set_fault(PRIMARY, "slow_first_token")
        status, headers, raw = await stack.ask(PRIMARY, "Can I pay with PayPal?", stream=stream)
        assert status == 200
        text = _stream_text(raw) if stream else _whole_text(raw)
        assert text
        if stream:
            # The limit is for streams: the fallback is known before the first byte.
            assert headers["x-frugal-fallback"] == f"{FALLBACK}; reason=primary_timeout"
            assert await stack.attempts() == {PRIMARY: 1, FALLBACK: 1}
        else:
            # A whole answer has no first token: the primary's own deadline applies.
            assert "x-frugal-fallback" not in headers
            assert await stack.attempts() == {PRIMARY: 1}


class TestContextWindow:
    async def test_a_provider_context_length_refusal_moves_on_to_the_next_model(
        self, stack: Stack
    ) -> None:
        await stack.set_fault(PRIMARY, "context_length")
        for stream in (False, True):
            status, headers, raw = await stack.ask(PRIMARY, "Tell me about returns", stream=stream)
            assert status == 200, raw
            assert headers["x-frugal-fallback"] == f"{FALLBACK}; reason=context_window"
        assert await stack.attempts() == {PRIMARY: 2, FALLBACK: 2}

    async def test_a_prompt_longer_than_the_registry_window_skips_the_model(
        self, tmp_path: Path
    ) -> None:
        async with run_simulator(SimConfig(output_tokens=8)) as sim:
            path = tmp_path / "frugal.toml"
            path.write_text(CONFIG.format(sim=sim.base_url, primary_window=50))
            settings = load_settings({**ENV, "FRUGAL_CONFIG": str(path)})
            async with run_gateway(settings) as gateway, aiohttp.ClientSession() as http:
                stack = Stack(sim, gateway, http)
                long_question = "Please explain your refund policy in detail. " * 20
                status, headers, _ = await stack.ask(PRIMARY, long_question, stream=False)
                assert status == 200
                assert headers["x-frugal-fallback"] == f"{FALLBACK}; reason=context_window"
                assert await stack.attempts() == {FALLBACK: 1}  # the primary was never asked


class TestErrorsBeforeTheFirstToken:
    async def test_every_model_failing_is_a_real_http_error_not_a_200_stream(
        self, stack: Stack
    ) -> None:
        await stack.set_fault(PRIMARY, "500")
        await stack.set_fault(FALLBACK, "500")
        for stream in (True, False):
            status, headers, raw = await stack.ask(PRIMARY, "Where is my order?", stream=stream)
            assert status >= 500
            assert headers["content-type"].startswith("application/json")
            error = msgspec.json.decode(raw)["error"]
            assert error["type"] == "server_error" and error["message"]

    async def test_chat_stream_reports_it_in_its_own_protocol(self, stack: Stack) -> None:
        # /chat/stream serves the browser's EventSource, which cannot read a refusal's body:
        # its protocol reports a provider failure as an `error` event, with the code.
        await stack.set_fault(PRIMARY, "500")
        await stack.set_fault(FALLBACK, "500")
        url = f"{stack.gateway.base_url}/chat/stream"
        params = {"message": "Where is my order?", "model": PRIMARY, "cache": "no-cache"}
        async with stack.http.get(url, params=params) as response:
            body = await response.text()
        assert "event: error" in body and "upstream_error" in body


class TestBreakersPerModel:
    async def test_one_failing_model_does_not_open_the_breaker_of_its_siblings(
        self, stack: Stack
    ) -> None:
        await stack.set_fault(PRIMARY, "500")
        for i in range(4):
            status, headers, _ = await stack.ask(PRIMARY, f"Question {i}?", stream=False)
            assert status == 200 and headers["x-frugal-model"] == FALLBACK
        # Two failures opened the primary's breaker: later requests skip it.
        assert (await stack.attempts())[PRIMARY] == 2
        status, headers, _ = await stack.ask(OTHER, "A sibling model?", stream=False)
        assert status == 200 and headers["x-frugal-model"] == OTHER
        assert "x-frugal-fallback" not in headers


class TestFlappingPrimary:
    async def test_every_request_is_served_and_traffic_returns_after_recovery(
        self, stack: Stack
    ) -> None:
        # Down for a while, then healthy: every request is served (by the fallback while the
        # primary is down), the breaker probes, and the primary answers again soon after.
        # `make faults` runs it with the primary down for a whole minute.
        down_s = float(os.environ.get("FRUGAL_TEST_FLAP_DOWN_S", "1.5"))
        await stack.set_fault(PRIMARY, "500")
        served: list[tuple[float, str]] = []
        started = time.monotonic()
        recovered_at: float | None = None
        while time.monotonic() - started < down_s + 2.5:
            if recovered_at is None and time.monotonic() - started > down_s:
                await stack.set_fault(PRIMARY, None)
                recovered_at = time.monotonic()
            status, headers, raw = await stack.ask(PRIMARY, "Opening hours?", stream=True)
            assert status == 200 and b'"error"' not in raw
            served.append((time.monotonic(), headers["x-frugal-model"]))
            await anyio.sleep(0.05)
        assert recovered_at is not None
        during = [model for at, model in served if at < recovered_at]
        after = [(at, model) for at, model in served if at >= recovered_at]
        assert during and all(model == FALLBACK for model in during)
        back = [at for at, model in after if model == PRIMARY]
        assert back and back[0] - recovered_at < 2.0  # cool-down 0.5 s, then a probe
        assert after[-1][1] == PRIMARY


PREFILL_CONFIG = """
[[registry.providers]]
name = "cloud"
kind = "openai"
base_url = "{sim}/v1"
api_key_env = "CLOUD_KEY"

[[registry.providers]]
name = "claude"
kind = "anthropic"
base_url = "{sim}"
api_key_env = "CLOUD_KEY"

[[registry.models]]
name = "gpt-4o"
provider = "cloud"
price = {{input = 2500000, output = 10000000}}
fallback = ["claude-haiku-4-5"]

[[registry.models]]
name = "claude-haiku-4-5"
provider = "claude"
price = {{input = 800000, output = 4000000}}
capabilities = ["tools", "vision", "prefill"]
"""


class TestContinuationByPrefill:
    @pytest.mark.parametrize("refused", [False, True])
    async def test_a_broken_stream_is_continued_by_prefill_or_by_instruction(
        self, tmp_path: Path, refused: bool
    ) -> None:
        sim_config = SimConfig(
            tokens_per_s=200.0,
            output_tokens=12,
            faults_by_model={PRIMARY: "stall"},
            no_prefill_models=("claude-haiku-4-5",) if refused else (),
        )
        async with run_simulator(sim_config) as sim:
            path = tmp_path / "frugal.toml"
            path.write_text(PREFILL_CONFIG.format(sim=sim.base_url))
            settings = load_settings({**ENV, "FRUGAL_CONFIG": str(path)})
            async with run_gateway(settings) as gateway, aiohttp.ClientSession() as http:
                stack = Stack(sim, gateway, http)
                status, _, raw = await stack.ask(
                    PRIMARY, "How do I reset my password?", stream=True
                )
                async with http.get(f"{sim.base_url}/_sim/requests") as response:
                    received = await response.json()
        assert status == 200 and b'"error"' not in raw
        info = stream_frugal(raw.decode())
        assert info["model"] == "claude-haiku-4-5" and info["used_fallback"] is True
        continued = [r for r in received if r["path"].endswith("/v1/messages")]
        last = msgspec.json.decode(continued[-1]["body"])["messages"][-1]
        if refused:
            # The prefill was refused: the same model was asked to continue by instruction.
            assert len(continued) == 2 and last["role"] == "user"
        else:
            assert len(continued) == 1 and last["role"] == "assistant"  # an assistant prefill
