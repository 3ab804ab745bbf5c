"""The simulator's faults, pacing, embeddings, stats and CLI, over real sockets."""

from __future__ import annotations

import argparse
import base64
import json
from typing import Any

import aiohttp
import anyio
import numpy as np
import pytest

from agent.tokens import count_text_tokens
from simulator import SimConfig, add_cli_arguments, config_from_args
from tests.support.sim_http import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    chat_body,
    messages_body,
    post,
    sse_blocks,
)
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio


class TestFaults:
    @pytest.mark.parametrize(
        ("path", "headers", "body"),
        [
            ("/v1/chat/completions", OPENAI_KEY, chat_body()),
            ("/v1/messages", ANTHROPIC_KEY, messages_body()),
        ],
    )
    async def test_429_carries_retry_after(
        self,
        sim: RunningSimulator,
        http: aiohttp.ClientSession,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any],
    ) -> None:
        status, response_headers, text = await post(
            http, sim.base_url + path, body, {**headers, "x-sim-fault": "429"}
        )
        assert status == 429 and response_headers["Retry-After"] == "1"
        error = json.loads(text)["error"]
        if path == "/v1/messages":
            assert error["type"] == "rate_limit_error" and "retry-after-ms" not in response_headers
        else:
            assert error["code"] == "rate_limit_exceeded"
            assert response_headers["retry-after-ms"] == "1000"
        assert sim.stats().faults == {"429": 1}

    @pytest.mark.parametrize(
        ("fault", "status", "openai_code", "anthropic_type"),
        [
            ("500", 500, None, "api_error"),
            ("401", 401, "invalid_api_key", "authentication_error"),
            ("context_length", 400, "context_length_exceeded", "invalid_request_error"),
        ],
    )
    async def test_error_faults_in_both_shapes(
        self,
        sim: RunningSimulator,
        http: aiohttp.ClientSession,
        fault: str,
        status: int,
        openai_code: str | None,
        anthropic_type: str,
    ) -> None:
        got, _, text = await post(
            http,
            f"{sim.base_url}/v1/chat/completions",
            chat_body(),
            {**OPENAI_KEY, "x-sim-fault": fault},
        )
        error = json.loads(text)["error"]
        assert got == status and error["code"] == openai_code and error["message"]
        got, _, text = await post(
            http,
            f"{sim.base_url}/v1/messages",
            messages_body(),
            {**ANTHROPIC_KEY, "x-sim-fault": fault},
        )
        body = json.loads(text)
        assert got == status and body["type"] == "error"
        assert body["error"]["type"] == anthropic_type
        if fault == "context_length":
            assert "prompt is too long" in body["error"]["message"]

    async def test_unknown_fault_is_a_bad_request(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        status, _, _ = await post(
            http,
            f"{sim.base_url}/v1/chat/completions",
            chat_body(),
            {**OPENAI_KEY, "x-sim-fault": "meteor"},
        )
        assert status == 400

    async def test_hang_never_answers(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        timeout = aiohttp.ClientTimeout(total=0.3)
        with pytest.raises(TimeoutError):
            await http.post(
                f"{sim.base_url}/v1/chat/completions",
                json=chat_body(),
                headers={**OPENAI_KEY, "x-sim-fault": "hang"},
                timeout=timeout,
            )

    async def test_disconnect_drops_json_and_cuts_streams(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        headers = {**OPENAI_KEY, "x-sim-fault": "disconnect"}
        url = f"{sim.base_url}/v1/chat/completions"
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(http, url, chat_body(), headers)
        received = b""
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.post(url, json=chat_body(stream=True), headers=headers) as response:
                assert response.status == 200
                async for data in response.content.iter_any():
                    received += data
        assert received.count(b'"content":') >= 3 and b"[DONE]" not in received
        stats = sim.stats()
        assert stats.streams_aborted == 1 and stats.streams[0].sent_tokens == 3

    async def test_malformed_json_and_stream(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/chat/completions"
        headers = {**OPENAI_KEY, "x-sim-fault": "malformed"}
        status, _, text = await post(http, url, chat_body(), headers)
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
        _, _, text = await post(
            http,
            f"{sim.base_url}/v1/messages",
            messages_body(stream=True),
            {**ANTHROPIC_KEY, "x-sim-fault": "malformed"},
        )
        bad = 0
        for _, data in sse_blocks(text):
            try:
                json.loads(data)
            except json.JSONDecodeError:
                bad += 1
        assert bad == 1

    async def test_random_faults_follow_rates_and_seed(self, http: aiohttp.ClientSession) -> None:
        config = SimConfig(rate_429=0.3, rate_500=0.2, seed=7)
        runs = []
        for _ in range(2):
            async with run_simulator(config) as sim:
                statuses = []
                for _ in range(40):
                    status, _, _ = await post(
                        http, f"{sim.base_url}/v1/chat/completions", chat_body(), OPENAI_KEY
                    )
                    statuses.append(status)
                runs.append(statuses)
        assert runs[0] == runs[1]  # same seed, same faults
        assert set(runs[0]) == {200, 429, 500}
        assert 4 <= runs[0].count(429) <= 22 and 2 <= runs[0].count(500) <= 16


class TestPacingAndOverrides:
    async def test_output_tokens_header_and_config(self, http: aiohttp.ClientSession) -> None:
        async with run_simulator(SimConfig(output_tokens=40)) as sim:
            url = f"{sim.base_url}/v1/chat/completions"
            _, _, text = await post(http, url, chat_body(), OPENAI_KEY)
            assert json.loads(text)["usage"]["completion_tokens"] == 40
            _, _, text = await post(
                http, url, chat_body(), {**OPENAI_KEY, "x-sim-output-tokens": "7"}
            )
            assert json.loads(text)["usage"]["completion_tokens"] == 7
            status, _, _ = await post(
                http, url, chat_body(), {**OPENAI_KEY, "x-sim-output-tokens": "lots"}
            )
            assert status == 400

    async def test_ttft_and_rate_pace_the_stream(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        headers = {
            **ANTHROPIC_KEY,
            "x-sim-ttft-ms": "150",
            "x-sim-tokens-per-s": "200",
            "x-sim-output-tokens": "41",
        }
        start = anyio.current_time()
        first_delta_at = None
        async with http.post(
            f"{sim.base_url}/v1/messages", json=messages_body(stream=True), headers=headers
        ) as response:
            async for line in response.content:
                if first_delta_at is None and b"content_block_delta" in line:
                    first_delta_at = anyio.current_time() - start
        total = anyio.current_time() - start
        assert first_delta_at is not None and 0.14 <= first_delta_at < 1.0
        assert 0.33 <= total < 2.0  # 150 ms + 40 intervals of 5 ms

    async def test_client_disconnect_cancels_the_stream(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        headers = {**OPENAI_KEY, "x-sim-tokens-per-s": "200", "x-sim-output-tokens": "400"}
        async with http.post(
            f"{sim.base_url}/v1/chat/completions", json=chat_body(stream=True), headers=headers
        ) as response:
            seen = 0
            async for line in response.content:
                seen += line.startswith(b"data: ")
                if seen == 6:
                    break
            response.close()
        for _ in range(150):  # the server notices the closed socket within a write or two
            if sim.stats().streams_cancelled:
                break
            await anyio.sleep(0.02)
        stats = sim.stats()
        record = stats.streams[0]
        assert record.outcome == "cancelled" and record.planned_tokens == 400
        assert 5 <= record.sent_tokens < 200
        assert stats.completion_tokens == record.sent_tokens
        assert stats.streams_completed == 0


class TestEmbeddings:
    async def test_vectors_are_deterministic_unit_vectors(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/embeddings"
        texts = ["refund policy", "reset password", "refund policy"]
        body = {"model": "text-embedding-3-small", "input": texts}
        _, _, text = await post(http, url, body, OPENAI_KEY)
        result = json.loads(text)
        assert result["object"] == "list" and [d["index"] for d in result["data"]] == [0, 1, 2]
        vectors = np.array([d["embedding"] for d in result["data"]])
        assert vectors.shape == (3, 1536)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert np.array_equal(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
        expected_tokens = sum(count_text_tokens(t, "text-embedding-3-small") for t in texts)
        assert result["usage"] == {
            "prompt_tokens": expected_tokens,
            "total_tokens": expected_tokens,
        }
        single = {"model": "text-embedding-3-small", "input": "refund policy"}
        _, _, text = await post(http, url, single, OPENAI_KEY)
        assert np.array_equal(json.loads(text)["data"][0]["embedding"], vectors[0])

    async def test_dimensions_and_base64(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        body = {
            "model": "text-embedding-3-small",
            "input": ["hi"],
            "dimensions": 64,
            "encoding_format": "base64",
        }
        _, _, text = await post(http, f"{sim.base_url}/v1/embeddings", body, OPENAI_KEY)
        raw = base64.b64decode(json.loads(text)["data"][0]["embedding"])
        vector = np.frombuffer(raw, dtype="<f4")
        assert vector.shape == (64,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


class TestModelsAndStats:
    async def test_models_in_both_formats(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        async with http.get(f"{sim.base_url}/v1/models", headers=OPENAI_KEY) as response:
            listing = await response.json()
        assert listing["object"] == "list" and "gpt-4o-mini" in [m["id"] for m in listing["data"]]
        async with http.get(f"{sim.base_url}/v1/models", headers=ANTHROPIC_KEY) as response:
            page = await response.json()
        assert page["has_more"] is False and page["data"][0]["type"] == "model"

    async def test_stats_count_requests_and_reset_zeroes(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        await post(http, f"{sim.base_url}/v1/chat/completions", chat_body(), OPENAI_KEY)
        await post(http, f"{sim.base_url}/v1/messages", messages_body(), ANTHROPIC_KEY)
        async with http.get(f"{sim.base_url}/_sim/stats") as response:
            stats = await response.json()
        assert stats["requests"] == {"chat.completions": 1, "messages": 1}
        assert stats["responses_ok"] == 2 and stats["prompt_tokens"] > 0
        assert stats["completion_tokens"] > 0
        async with http.post(f"{sim.base_url}/_sim/reset") as response:
            assert response.status == 200
        async with http.get(f"{sim.base_url}/_sim/stats") as response:
            stats = await response.json()
        assert stats["requests"] == {} and stats["completion_tokens"] == 0


def test_cli_flags_build_a_config() -> None:
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    ns = parser.parse_args(
        ["--ttft-ms", "250", "--rate-429", "0.1", "--output-tokens", "64", "--seed", "3"]
    )
    config = config_from_args(ns)
    assert (ns.host, ns.port) == ("127.0.0.1", 9100)
    assert config == SimConfig(ttft_ms=250, rate_429=0.1, output_tokens=64, seed=3)
    with pytest.raises(ValueError):
        SimConfig(rate_429=0.7, rate_500=0.5)
