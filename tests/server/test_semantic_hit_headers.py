"""A semantic hit tells the caller what it matched: ``x-frugal-cache-score`` on every semantic
hit of the ``/v1`` wires (whole and streamed), never on a miss or an exact hit; and
``x-frugal-cache-matched`` (the stored question, percent-encoded) only when
``FRUGAL_CACHE_SEMANTIC_SHOW_MATCH`` is on. Real gateway, simulated provider, MiniLM."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from cache.normalize import normalize_text
from server.cache_headers import MATCHED_HEADER, SCORE_HEADER, encode_matched
from server.config import load_settings
from server.openapi import build_document
from tests.support.cost_http import FAST_SIMULATED as FAST
from tests.support.gateway import run_gateway

pytestmark = pytest.mark.anyio

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


def wire_body(path: str, text: str, *, stream: bool = False) -> dict[str, Any]:
    if path == "/v1/responses":
        return {"model": "auto", "temperature": 0, "stream": stream, "input": text}
    body: dict[str, Any] = {
        "model": "auto",
        "temperature": 0,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    if path == "/v1/messages":
        body["max_tokens"] = 200
    return body


async def ask(
    http: aiohttp.ClientSession, base_url: str, path: str, text: str, *, stream: bool = False
) -> CIMultiDictProxy[str]:
    payload = wire_body(path, text, stream=stream)
    async with http.post(f"{base_url}{path}", json=payload) as response:
        await response.read()
        assert response.status == 200, await response.text()
        return response.headers


class TestScoreHeader:
    @pytest.mark.parametrize(
        ("path", "stream"),
        [
            ("/v1/chat/completions", False),
            ("/v1/chat/completions", True),
            ("/v1/messages", False),
            ("/v1/responses", True),
        ],
    )
    async def test_only_a_semantic_hit_carries_its_score(self, path: str, stream: bool) -> None:
        async with run_gateway(load_settings(FAST)) as gw, aiohttp.ClientSession() as http:
            miss = await ask(http, gw.base_url, path, QUESTION, stream=stream)
            exact = await ask(http, gw.base_url, path, QUESTION, stream=stream)
            semantic = await ask(http, gw.base_url, path, PARAPHRASE, stream=stream)
        assert (miss["x-frugal-cache"], exact["x-frugal-cache"]) == ("miss", "exact")
        assert SCORE_HEADER not in miss and SCORE_HEADER not in exact
        assert semantic["x-frugal-cache"] == "semantic"
        score = semantic[SCORE_HEADER]
        assert re.fullmatch(r"[01]\.\d{4}", score), score
        assert 0.92 <= float(score) <= 1.0  # at least the default threshold
        # The question it matched is private by default: another caller may have asked it.
        assert all(MATCHED_HEADER not in h for h in (miss, exact, semantic))


class TestMatchedHeader:
    async def test_shows_the_stored_question_when_the_operator_allows_it(self) -> None:
        settings = load_settings({**FAST, "FRUGAL_CACHE_SEMANTIC_SHOW_MATCH": "true"})
        path = "/v1/chat/completions"
        async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
            miss = await ask(http, gw.base_url, path, QUESTION)
            semantic = await ask(http, gw.base_url, path, PARAPHRASE)
            streamed = await ask(http, gw.base_url, path, PARAPHRASE, stream=True)
        assert MATCHED_HEADER not in miss
        for headers in (semantic, streamed):
            assert headers["x-frugal-cache"] == "semantic"
            encoded = headers[MATCHED_HEADER]
            assert " " not in encoded and "?" not in encoded  # percent-encoded, safe=""
            assert unquote(encoded) == normalize_text(QUESTION)


class TestEncodeMatched:
    def test_short_text_is_percent_encoded_utf8_whole(self) -> None:
        text = "Wie lange dauert der Versand nach Österreich? 配送/返品"
        encoded = encode_matched(text)
        assert re.fullmatch(r"[A-Za-z0-9_.~%-]+", encoded)
        assert unquote(encoded, errors="strict") == text

    @pytest.mark.parametrize("text", ["a" * 2000, "é" * 400, "x" + "配" * 200, "ab" + "/" * 600])
    def test_long_text_is_cut_between_characters_at_the_cap(self, text: str) -> None:
        encoded = encode_matched(text)
        assert len(encoded) <= 1024
        assert len(encoded) > 1024 - 9  # as much as fits: one more character would not
        decoded = unquote(encoded, errors="strict")  # never a split escape or UTF-8 sequence
        assert text.startswith(decoded)

    def test_a_lone_surrogate_does_not_fail_the_header(self) -> None:
        assert unquote(encode_matched("why \ud800 here")) == "why ? here"


class TestDescribed:
    @pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
    def test_the_openapi_document_names_the_headers(self, path: str) -> None:
        headers = build_document()["paths"][path]["post"]["responses"]["200"]["headers"]
        assert {"x-frugal-cache", SCORE_HEADER, MATCHED_HEADER} <= set(headers)
        assert "FRUGAL_CACHE_SEMANTIC_SHOW_MATCH" in headers[MATCHED_HEADER]["description"]
        assert re.fullmatch(headers[SCORE_HEADER]["schema"]["pattern"], "0.9634")
