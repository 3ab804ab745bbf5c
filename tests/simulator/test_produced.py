"""The per-request tally of produced usage (``GET /_sim/produced``) and ``early_disconnect``."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support.sim_http import OPENAI_KEY, chat_body, post
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio


def tagged(tag: str, *, stream: bool = False) -> dict[str, Any]:
    body = chat_body(stream=stream)
    body["metadata"] = {"sim_tag": tag}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def produced(http: aiohttp.ClientSession, sim: RunningSimulator) -> dict[str, Any]:
    async with http.get(f"{sim.base_url}/_sim/produced") as response:
        found: dict[str, Any] = await response.json()
    return found


async def read_stream(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]
) -> bytes:
    received = b""
    try:
        async with http.post(url, json=body, headers=headers) as response:
            async for data in response.content.iter_any():
                received += data
    except aiohttp.ClientPayloadError:
        pass
    return received


class TestProducedTally:
    async def test_a_json_answer_and_a_full_stream_are_tallied_as_reported(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/chat/completions"
        status, _, _ = await post(http, url, tagged("a"), OPENAI_KEY)
        assert status == 200
        await read_stream(http, url, tagged("b", stream=True), OPENAI_KEY)
        await post(http, url, chat_body(), OPENAI_KEY)  # untagged: not tallied
        found = await produced(http, sim)
        assert set(found) == {"a", "b"}
        [json_entry], [stream_entry] = found["a"], found["b"]
        for entry in (json_entry, stream_entry):
            assert entry["reported"] is True
            assert entry["prompt_tokens"] > 0 and entry["completion_tokens"] > 0
        assert stream_entry["completion_tokens"] == json_entry["completion_tokens"]

    async def test_a_cut_stream_produced_only_what_went_out(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/chat/completions"
        headers = {**OPENAI_KEY, "x-sim-fault": "disconnect"}
        await read_stream(http, url, tagged("cut", stream=True), headers)
        [entry] = (await produced(http, sim))["cut"]
        assert entry["prompt_tokens"] > 0
        assert (entry["completion_tokens"], entry["reported"]) == (3, False)
        await http.post(f"{sim.base_url}/_sim/reset")
        assert await produced(http, sim) == {}


class TestEarlyDisconnect:
    async def test_drops_json_and_cuts_streams_before_the_first_token(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        headers = {**OPENAI_KEY, "x-sim-fault": "early_disconnect"}
        url = f"{sim.base_url}/v1/chat/completions"
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(http, url, chat_body(), headers)
        received = await read_stream(http, url, tagged("early", stream=True), headers)
        assert b'"content"' not in received and b"[DONE]" not in received
        stats = sim.stats()
        assert stats.streams_aborted == 1 and stats.streams[0].sent_tokens == 0
        [entry] = (await produced(http, sim))["early"]
        assert (entry["prompt_tokens"], entry["completion_tokens"]) == (0, 0)
