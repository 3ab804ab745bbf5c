"""Faults pinned per model (config, CLI, ``/_sim/faults``), context windows and prefill."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import aiohttp
import pytest

from simulator import SimConfig, add_cli_arguments, config_from_args
from tests.support.sim_http import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    QUESTION,
    chat_body,
    messages_body,
    post,
    sse_blocks,
)
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


async def _chat(sim: RunningSimulator, http: aiohttp.ClientSession, model: str) -> int:
    status, _, _ = await post(http, sim.base_url + CHAT, chat_body(model=model), OPENAI_KEY)
    return status


async def _messages(sim: RunningSimulator, http: aiohttp.ClientSession, model: str) -> int:
    body = messages_body(model=model)
    status, _, _ = await post(http, sim.base_url + MESSAGES, body, ANTHROPIC_KEY)
    return status


async def _put_fault(
    sim: RunningSimulator, http: aiohttp.ClientSession, model: str, fault: str | None
) -> tuple[int, Any]:
    payload = {"model": model, "fault": fault}
    async with http.put(f"{sim.base_url}/_sim/faults", json=payload) as response:
        return response.status, await response.json()


class TestFaultsByModel:
    async def test_configured_fault_hits_every_request_for_that_model_on_both_wires(
        self, http: aiohttp.ClientSession
    ) -> None:
        config = SimConfig(faults_by_model={"gpt-4o": "429", "claude-sonnet-4-5": "500"})
        async with run_simulator(config) as sim:
            assert [await _chat(sim, http, "gpt-4o") for _ in range(3)] == [429] * 3
            assert await _chat(sim, http, "gpt-4o-mini") == 200
            assert await _messages(sim, http, "claude-sonnet-4-5") == 500
            assert await _messages(sim, http, "claude-haiku-4-5") == 200
            stats = sim.stats()
        assert stats.faults == {"429": 3, "500": 1}
        assert stats.requests_by_model == {
            "gpt-4o": 3,
            "gpt-4o-mini": 1,
            "claude-sonnet-4-5": 1,
            "claude-haiku-4-5": 1,
        }

    async def test_model_fault_applies_to_streams(self, http: aiohttp.ClientSession) -> None:
        async with run_simulator(SimConfig(faults_by_model={"gpt-4o": "no_done"})) as sim:
            body = chat_body(model="gpt-4o", stream=True)
            _, _, text = await post(http, sim.base_url + CHAT, body, OPENAI_KEY)
            assert "[DONE]" not in text and sse_blocks(text)[-1][1].startswith("{")

    async def test_header_wins_over_the_model_fault(self, http: aiohttp.ClientSession) -> None:
        async with run_simulator(SimConfig(faults_by_model={"gpt-4o": "429"})) as sim:
            headers = {**OPENAI_KEY, "x-sim-fault": "500"}
            status, _, _ = await post(http, sim.base_url + CHAT, chat_body(model="gpt-4o"), headers)
            assert status == 500

    def test_cli_flags_pin_faults_windows_and_prefill(self) -> None:
        parser = argparse.ArgumentParser()
        add_cli_arguments(parser)
        flags = "--fault-model gpt-4o=stall --fault-model claude-haiku-4-5=500"
        flags += " --context-window gpt-4o=8000 --no-prefill gpt-4o --no-prefill o3"
        flags += " --rate-malformed-chunk 0.1 --rate-no-done 0.1 --rate-stall 0.1"
        flags += " --rate-slow-first-token 0.1 --stall-after-chunks 5 --slow-ttft-ms 900"
        config = config_from_args(parser.parse_args(flags.split()))
        assert config == SimConfig(
            faults_by_model={"gpt-4o": "stall", "claude-haiku-4-5": "500"},
            context_windows={"gpt-4o": 8000},
            no_prefill_models=("gpt-4o", "o3"),
            rate_malformed_chunk=0.1,
            rate_no_done=0.1,
            rate_stall=0.1,
            rate_slow_first_token=0.1,
            stall_after_chunks=5,
            slow_ttft_ms=900,
        )
        for bad in (["--fault-model", "gpt-4o=meteor"], ["--context-window", "gpt-4o"]):
            with pytest.raises(SystemExit):
                parser.parse_args(bad)
        with pytest.raises(ValueError):
            SimConfig(faults_by_model={"gpt-4o": "meteor"})


class TestRuntimeFaults:
    async def test_put_sets_and_clears_a_fault_for_flapping_tests(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        status, listing = await _put_fault(sim, http, "gpt-4o", "500")
        assert status == 200 and listing == {"faults_by_model": {"gpt-4o": "500"}}
        await _put_fault(sim, http, "claude-haiku-4-5", "401")
        assert await _chat(sim, http, "gpt-4o") == 500
        assert await _chat(sim, http, "gpt-4o-mini") == 200
        assert await _messages(sim, http, "claude-haiku-4-5") == 401
        async with http.get(f"{sim.base_url}/_sim/faults") as response:
            listed = await response.json()
        assert listed == {"faults_by_model": {"claude-haiku-4-5": "401", "gpt-4o": "500"}}
        status, listing = await _put_fault(sim, http, "gpt-4o", None)
        assert listing == {"faults_by_model": {"claude-haiku-4-5": "401"}}
        assert await _chat(sim, http, "gpt-4o") == 200
        stats = sim.stats()
        assert stats.faults == {"500": 1, "401": 1}
        assert stats.requests_by_model["gpt-4o"] == 2

    async def test_reset_restores_the_configured_faults(self, http: aiohttp.ClientSession) -> None:
        async with run_simulator(SimConfig(faults_by_model={"gpt-4o": "429"})) as sim:
            await _put_fault(sim, http, "gpt-4o", None)
            await _put_fault(sim, http, "gpt-4o-mini", "500")
            async with http.post(f"{sim.base_url}/_sim/reset") as response:
                assert response.status == 200
            async with http.get(f"{sim.base_url}/_sim/faults") as response:
                assert await response.json() == {"faults_by_model": {"gpt-4o": "429"}}
            assert await _chat(sim, http, "gpt-4o-mini") == 200

    @pytest.mark.parametrize(
        "payload", [{"model": "gpt-4o", "fault": "meteor"}, {"fault": "500"}, ["gpt-4o"]]
    )
    async def test_bad_change_is_a_400(
        self, sim: RunningSimulator, http: aiohttp.ClientSession, payload: Any
    ) -> None:
        async with http.put(f"{sim.base_url}/_sim/faults", json=payload) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "bad_request"

    async def test_requests_record_model_and_arrival_time(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        before = time.monotonic()
        await _chat(sim, http, "gpt-4o")
        await _messages(sim, http, "claude-haiku-4-5")
        async with http.get(f"{sim.base_url}/_sim/requests") as response:
            received = await response.json()
        assert [r["model"] for r in received] == ["gpt-4o", "claude-haiku-4-5"]
        times = [r["received_at"] for r in received]
        assert before <= times[0] <= times[1] <= time.monotonic()


class TestContextWindow:
    async def test_prompt_over_the_model_window_gets_the_providers_400(
        self, http: aiohttp.ClientSession
    ) -> None:
        windows = {"gpt-4o": 10, "claude-sonnet-4-5": 10}
        async with run_simulator(SimConfig(context_windows=windows)) as sim:
            # Same tokenizer as the windowed model, no window: the real prompt size.
            _, _, text = await post(http, sim.base_url + CHAT, chat_body(), OPENAI_KEY)
            tokens = json.loads(text)["usage"]["prompt_tokens"]
            status, _, text = await post(
                http, sim.base_url + CHAT, chat_body(model="gpt-4o"), OPENAI_KEY
            )
            assert status == 400 and tokens > 10
            assert json.loads(text)["error"] == {
                "message": f"This model's maximum context length is 10 tokens. However, your"
                f" messages resulted in {tokens} tokens. Please reduce the length of the"
                " messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
            _, _, text = await post(http, sim.base_url + MESSAGES, messages_body(), ANTHROPIC_KEY)
            tokens = json.loads(text)["usage"]["input_tokens"]
            status, _, text = await post(
                http,
                sim.base_url + MESSAGES,
                messages_body(model="claude-sonnet-4-5"),
                ANTHROPIC_KEY,
            )
            assert status == 400
            assert json.loads(text) == {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": f"prompt is too long: {tokens} tokens > 10 maximum",
                },
            }
            assert sim.stats().faults == {"context_length": 2}

    async def test_prompt_within_the_window_is_answered(self, http: aiohttp.ClientSession) -> None:
        async with run_simulator(SimConfig(context_windows={"gpt-4o-mini": 1000})) as sim:
            assert await _chat(sim, http, "gpt-4o-mini") == 200

    async def test_forced_fault_names_the_model_window(self, http: aiohttp.ClientSession) -> None:
        config = SimConfig(
            context_windows={"gpt-4o": 8000}, faults_by_model={"gpt-4o": "context_length"}
        )
        async with run_simulator(config) as sim:
            _, _, text = await post(
                http, sim.base_url + CHAT, chat_body(model="gpt-4o"), OPENAI_KEY
            )
            assert "maximum context length is 8000 tokens" in json.loads(text)["error"]["message"]


def _with_prefill(body: dict[str, Any], prefill: str) -> dict[str, Any]:
    return {**body, "messages": [*body["messages"], {"role": "assistant", "content": prefill}]}


class TestPrefill:
    @pytest.mark.parametrize(
        ("path", "key", "body"),
        [(CHAT, OPENAI_KEY, chat_body(model="gpt-4o")), (MESSAGES, ANTHROPIC_KEY, messages_body())],
    )
    async def test_listed_model_refuses_an_assistant_last_conversation(
        self, http: aiohttp.ClientSession, path: str, key: dict[str, str], body: dict[str, Any]
    ) -> None:
        config = SimConfig(no_prefill_models=("gpt-4o", "claude-haiku-4-5"))
        async with run_simulator(config) as sim:
            status, _, text = await post(
                http, sim.base_url + path, _with_prefill(body, "Sure,"), key
            )
            error = json.loads(text)["error"]
            assert status == 400 and error["type"] == "invalid_request_error"
            assert error["message"].startswith(
                "This model does not support assistant message prefill"
            )
            status, _, _ = await post(http, sim.base_url + path, body, key)
            assert status == 200
            assert sim.stats().faults == {"prefill_refused": 1}

    async def test_openai_answer_continues_the_prefill(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = sim.base_url + CHAT
        _, _, text = await post(http, url, chat_body(), OPENAI_KEY)
        full = json.loads(text)["choices"][0]["message"]["content"]
        cut = full.index(" ", 20)
        _, _, text = await post(http, url, _with_prefill(chat_body(), full[:cut]), OPENAI_KEY)
        assert json.loads(text)["choices"][0]["message"]["content"] == full[cut:]
        _, _, text = await post(http, url, _with_prefill(chat_body(), "Sure thing,"), OPENAI_KEY)
        assert json.loads(text)["choices"][0]["message"]["content"] == " " + full

    async def test_anthropic_native_prefill_is_continued_in_json_and_stream(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = sim.base_url + MESSAGES
        _, _, text = await post(http, url, messages_body(), ANTHROPIC_KEY)
        full = json.loads(text)["content"][0]["text"]
        assert QUESTION not in full
        cut = full.index(" ", 20)
        body = _with_prefill(messages_body(), full[:cut])
        _, _, text = await post(http, url, body, ANTHROPIC_KEY)
        assert json.loads(text)["content"][0]["text"] == full[cut:]
        _, _, text = await post(http, url, {**body, "stream": True}, ANTHROPIC_KEY)
        deltas = [
            json.loads(data) for event, data in sse_blocks(text) if event == "content_block_delta"
        ]
        assert "".join(d["delta"]["text"] for d in deltas) == full[cut:]
