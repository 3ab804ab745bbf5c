"""Errors in OpenAI's shape, the model list and embeddings."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import aiohttp
import msgspec
import openai
import pytest
from openai import AsyncOpenAI

from tests.server.v1_drop_in.support import (
    BAD_BODIES,
    CACHE,
)
from tests.support.gateway import RunningGateway
from tests.support.openai_sdk import user
from tests.support.v1 import (
    SimGateway,
)

pytestmark = pytest.mark.anyio


class TestErrors:
    async def test_unknown_model_is_not_found(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(
                model="no-such-model-anywhere", messages=user("Hi there")
            )
        assert caught.value.status_code == 404
        assert caught.value.code == "model_not_found"
        assert caught.value.param == "model"

    @pytest.mark.parametrize(("name", "raw", "param"), BAD_BODIES)
    async def test_bad_body_is_a_400_naming_the_field(
        self,
        gw: SimGateway,
        http: aiohttp.ClientSession,
        name: str,
        raw: bytes,
        param: str | None,
    ) -> None:
        gw.sim.reset()
        async with http.post(
            f"{gw.base_url}/v1/chat/completions",
            data=raw,
            headers={"Content-Type": "application/json", "Authorization": "Bearer k"},
        ) as response:
            status, body = response.status, await response.json()
        assert status == 400, (name, body)
        error = body["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"]
        if param is not None:
            assert error["param"] == param, (name, error)
        assert not gw.sim.state.received(), "nothing may reach the provider"

    async def test_sdk_sees_bad_request_with_param(self, client: AsyncOpenAI) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"n": 0}, "n"),
            ({"temperature": 5}, "temperature"),
            ({"model": "gpt-4o\nmini"}, "model"),
        ]
        for extra, param in cases:
            kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": user("Hi"), **extra}
            with pytest.raises(openai.BadRequestError) as caught:
                await client.chat.completions.create(**kwargs)
            assert caught.value.status_code == 400
            assert caught.value.param == param, extra

    async def test_sdk_sees_param_of_a_missing_field(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=openai.NOT_GIVEN)
        assert caught.value.param == "messages"

    async def test_an_error_keeps_the_connection_usable(
        self, gw: SimGateway, caplog: pytest.LogCaptureFixture
    ) -> None:
        url = f"{gw.base_url}/v1/chat/completions"
        bad = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "n": 0}
        good = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}
        caplog.set_level(logging.ERROR)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as one:
            for _ in range(3):
                async with one.post(url, json=bad, headers={"Authorization": "Bearer k"}) as r:
                    assert r.status == 400
                    await r.read()
                async with one.post(url, json=good, headers={"Authorization": "Bearer k"}) as r:
                    assert r.status == 200
                    await r.read()
        assert not [r for r in caplog.records if "Exception in ASGI" in r.getMessage()]

    async def test_no_422_on_v1(self, gw: SimGateway) -> None:
        bodies = [b.values[1] if hasattr(b, "values") else b[1] for b in BAD_BODIES] + [
            b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":"yes"}',
            b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"n":"two"}',
            b'{"model":"gpt-4o-mini","messages":[{"content":"Hi"}]}',
            b'{"model":5,"messages":[{"role":"user","content":"Hi"}]}',
            b'{"model":"text-embedding-3-small","input":7}',
        ]
        # One connection per request: an error closes the connection (see the test above).
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            for path, raw in itertools.product(("/v1/chat/completions", "/v1/embeddings"), bodies):
                async with http.post(
                    f"{gw.base_url}{path}",
                    data=raw,
                    headers={"Content-Type": "application/json", "Authorization": "Bearer k"},
                ) as response:
                    assert response.status != 422, (path, raw, await response.text())
                    assert 400 <= response.status < 500, (path, raw, await response.text())

    async def test_provider_4xx_passes_through(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=user("Hi, what are your opening hours?"),
                logprobs=True,
                top_logprobs=30,
            )
        assert caught.value.status_code == 400
        assert "top_logprobs must be between 0 and 20" in caught.value.message


class TestModelsAndEmbeddings:
    async def test_list_and_retrieve_models(self, client: AsyncOpenAI) -> None:
        page = await client.models.list()
        ids = [m.id for m in page.data]
        assert "auto" in ids and "gpt-4o-mini" in ids and "claude-haiku-4-5" in ids
        assert len(ids) == len(set(ids))
        for name in ("auto", "gpt-4o-mini"):
            model = await client.models.retrieve(name)
            assert model.id == name and model.object == "model"
        with pytest.raises(openai.NotFoundError) as caught:
            await client.models.retrieve("no-such-model-anywhere")
        assert caught.value.code == "model_not_found"

    async def test_local_embeddings_and_their_cache(
        self, simulated_gateway: RunningGateway
    ) -> None:
        async with AsyncOpenAI(
            base_url=f"{simulated_gateway.base_url}/v1", api_key="k", max_retries=0, timeout=60
        ) as c:
            kwargs: dict[str, Any] = {
                "model": "all-MiniLM-L6-v2",
                "input": ["reset my password", "where is my parcel"],
            }
            first = await c.embeddings.with_raw_response.create(**kwargs)
            again = await c.embeddings.with_raw_response.create(**kwargs)
        result = first.parse()
        assert [len(item.embedding) for item in result.data] == [384, 384]
        assert [item.index for item in result.data] == [0, 1]
        assert result.usage.prompt_tokens > 0
        assert first.headers[CACHE] == "miss"
        assert again.headers[CACHE] == "exact"
        assert [i.embedding for i in again.parse().data] == [i.embedding for i in result.data]

    async def test_provider_embeddings_are_proxied(
        self, gw: SimGateway, client: AsyncOpenAI
    ) -> None:
        raw = await client.embeddings.with_raw_response.create(
            model="text-embedding-3-small", input=["proxied embedding input"]
        )
        result = raw.parse()
        assert len(result.data) == 1 and len(result.data[0].embedding) == 1536
        assert result.usage.prompt_tokens > 0
        sent = msgspec.json.decode(gw.last_received("/v1/embeddings"))
        assert sent["model"] == "text-embedding-3-small"
        assert sent["input"] == ["proxied embedding input"]
