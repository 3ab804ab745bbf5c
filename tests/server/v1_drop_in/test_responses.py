"""The official SDK's Responses API through the gateway to the simulator: create (string and
item input, instructions), stream, retrieve / delete / input items, function tools over two
turns with ``previous_response_id``, json_schema output, refusals and the cache."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI, BadRequestError, NotFoundError

from tests.server.v1_drop_in.support import CACHE
from tests.support.v1 import TIME_TOOL, WEATHER_TOOL, SimGateway

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"


def flat(tool: dict[str, Any]) -> dict[str, Any]:
    """A chat tool in the Responses API's flat shape."""
    return {"type": "function", **tool["function"]}


TOOLS = [flat(WEATHER_TOOL), flat(TIME_TOOL)]


class TestCreate:
    async def test_string_input(self, client: AsyncOpenAI, gw: SimGateway) -> None:
        raw = await client.responses.with_raw_response.create(
            model=MODEL, input="Say hello to the gateway", temperature=0
        )
        response = raw.parse()
        assert response.id.startswith("resp_")
        assert response.object == "response"
        assert response.status == "completed"
        assert response.output_text
        [message] = response.output
        assert message.type == "message" and message.role == "assistant"
        usage = response.usage
        assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        assert raw.headers["x-frugal-request-id"] == response.id.removeprefix("resp_")
        assert raw.headers["x-frugal-model"]
        sent = json.loads(gw.last_received())
        assert sent["messages"] == [{"role": "user", "content": "Say hello to the gateway"}]
        assert sent["temperature"] == 0

    async def test_items_and_instructions(self, client: AsyncOpenAI, gw: SimGateway) -> None:
        response = await client.responses.create(
            model=MODEL,
            instructions="You are terse.",
            input=[
                {"role": "user", "content": [{"type": "input_text", "text": "First question"}]},
                {"role": "assistant", "content": "First answer"},
                {"type": "message", "role": "user", "content": "Second question"},
            ],
            max_output_tokens=1000,
            top_p=0.5,
            metadata={"ticket": "42"},
        )
        assert response.status == "completed"
        assert response.instructions == "You are terse."
        assert response.metadata == {"ticket": "42"}
        sent = json.loads(gw.last_received())
        assert sent["messages"] == [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": "Second question"},
        ]
        assert sent["max_completion_tokens"] == 1000
        assert sent["top_p"] == 0.5
        assert "max_output_tokens" not in sent and "instructions" not in sent

    async def test_length_cut_is_incomplete(self, client: AsyncOpenAI) -> None:
        response = await client.responses.create(
            model=MODEL,
            input="Write a long story about a lighthouse keeper and the sea",
            max_output_tokens=16,
        )
        assert response.status == "incomplete"
        assert response.incomplete_details is not None
        assert response.incomplete_details.reason == "max_output_tokens"

    async def test_unknown_fields_pass_through(self, client: AsyncOpenAI, gw: SimGateway) -> None:
        await client.responses.create(
            model=MODEL, input="Hi there", extra_body={"x_vendor_flag": {"a": 1}}
        )
        assert json.loads(gw.last_received())["x_vendor_flag"] == {"a": 1}


class TestRefused:
    async def test_hosted_tool_is_a_400_naming_the_field(self, client: AsyncOpenAI) -> None:
        with pytest.raises(BadRequestError) as caught:
            await client.responses.create(
                model=MODEL, input="Search the web", tools=[{"type": "web_search"}]
            )
        assert caught.value.status_code == 400
        body: Any = caught.value.body
        assert body["param"] == "tools[0].type"
        assert "web_search" in body["message"]

    async def test_unknown_previous_response_is_a_404(self, client: AsyncOpenAI) -> None:
        with pytest.raises(NotFoundError) as caught:
            await client.responses.create(model=MODEL, input="Hi", previous_response_id="resp_nope")
        body: Any = caught.value.body
        assert body["param"] == "previous_response_id"

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            (b"[1]", None),
            (b'{"model": "gpt-4o-mini"}', "input"),
            (
                b'{"model": "gpt-4o-mini", "input": [{"type": "item_reference", "id": "x"}]}',
                "input[0].type",
            ),
            (b'{"model": "gpt-4o-mini", "input": "Hi", "background": true}', "background"),
            (b'{"input": "Hi"}', "model"),
        ],
    )
    async def test_bad_bodies_are_400s_in_openai_shape(
        self, gw: SimGateway, http: aiohttp.ClientSession, body: bytes, param: str | None
    ) -> None:
        async with http.post(
            f"{gw.base_url}/v1/responses",
            data=body,
            headers={"content-type": "application/json"},
        ) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param
