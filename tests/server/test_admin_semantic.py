"""``GET /admin/cache/semantic`` and ``POST /admin/cache/invalidate`` with ``semantic_ids``,
through the real app: admin key required, listing filtered by tenant, tag and question, then
an entry dropped by id is no longer served, here and on another replica; on the in-process
backend and on Redis's shared vector index."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp
import anyio
import pytest

from server.config import load_settings
from server.openapi import build_document
from server.settings import Settings
from tests.support.cost_http import FAST_SIMULATED as FAST
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

ADMIN_KEY = "test-admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


def settings(**extra: str) -> Settings:
    return load_settings({**FAST, "FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY, **extra})


async def v1(http: aiohttp.ClientSession, base_url: str, text: str, **headers: str) -> str:
    body = {"model": "auto", "temperature": 0, "messages": [{"role": "user", "content": text}]}
    url = f"{base_url}/v1/chat/completions"
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        return response.headers["x-frugal-cache"]


async def listing(
    http: aiohttp.ClientSession,
    base_url: str,
    query: dict[str, str] | str = "",
    headers: dict[str, str] = AUTH,
) -> tuple[int, dict[str, Any]]:
    encoded = query if isinstance(query, str) else urlencode(query)
    url = f"{base_url}/admin/cache/semantic" + (f"?{encoded}" if encoded else "")
    async with http.get(url, headers=headers) as response:
        return response.status, dict(await response.json())


async def invalidate(
    http: aiohttp.ClientSession, base_url: str, payload: object
) -> tuple[int, dict[str, Any]]:
    url = f"{base_url}/admin/cache/invalidate"
    async with http.post(url, json=payload, headers=AUTH) as response:
        return response.status, dict(await response.json())


class TestAccess:
    async def test_does_not_exist_without_an_admin_key(self) -> None:
        async with run_gateway(load_settings(FAST)) as gw, aiohttp.ClientSession() as http:
            status, body = await listing(http, gw.base_url, headers={})
        assert status == 404 and body["error"]["code"] == "not_found"

    async def test_needs_the_admin_key(self) -> None:
        wrong = ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"x-api-key": "nope"})
        async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
            for headers in wrong:
                status, body = await listing(http, gw.base_url, headers=headers)
                assert status == 401 and body["error"]["code"] == "unauthorized", headers
            status, body = await listing(http, gw.base_url, headers={"x-api-key": ADMIN_KEY})
            assert status == 200 and body == {"entries": [], "backend": "memory"}


class TestListing:
    async def test_lists_what_was_stored_filtered_by_question_tenant_and_tag(self) -> None:
        async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
            assert await v1(http, gw.base_url, QUESTION) == "miss"
            assert await v1(http, gw.base_url, "Do you ship to Canada?") == "miss"
            async with http.post(f"{gw.base_url}/chat", json={"message": QUESTION}) as response:
                answer = await response.json()
                assert response.status == 200, answer

            status, body = await listing(http, gw.base_url)
            assert status == 200, body
            assert body["backend"] == "memory"
            entries = body["entries"]
            # Newest first: the /chat answer, then the two /v1 ones.
            assert [e["question"] for e in entries] == [
                "how do I reset my password?",
                "do you ship to Canada?",
                "how do I reset my password?",
            ]
            chat_entry, _, v1_entry = entries
            assert {e["tenant"] for e in entries} == {"default"}
            assert v1_entry["partition"].startswith("auto|openai.chat|")
            assert chat_entry["partition"] != v1_entry["partition"]
            # A /chat answer is tagged with the knowledge-base documents it cited.
            assert chat_entry["tags"], chat_entry
            assert set(chat_entry["tags"]) <= {s.split("@")[0] for s in answer["sources"]}
            assert v1_entry["tags"] == []
            assert 3000 < v1_entry["expires_in_s"] <= 3600  # FRUGAL_CACHE_TTL_DEFAULT_S
            assert len({e["id"] for e in entries}) == 3

            _, found = await listing(http, gw.base_url, {"q": "PASSWORD"})
            assert [e["id"] for e in found["entries"]] == [chat_entry["id"], v1_entry["id"]]
            _, found = await listing(http, gw.base_url, {"tag": chat_entry["tags"][0]})
            assert [e["id"] for e in found["entries"]] == [chat_entry["id"]]
            _, found = await listing(http, gw.base_url, {"tenant": "default", "limit": "1"})
            assert [e["id"] for e in found["entries"]] == [chat_entry["id"]]
            _, found = await listing(http, gw.base_url, {"tenant": "acme"})
            assert found["entries"] == []

    async def test_a_bad_parameter_is_a_frugal_error(self) -> None:
        bad = (
            "limit=0",
            "limit=1001",
            "limit=many",
            "tenant=no%20spaces",
            "tag=",
            "q=" + "x" * 1001,
            "colour=blue",
            "q=a&q=b",
        )
        async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
            for query in bad:
                status, body = await listing(http, gw.base_url, query)
                assert status == 422, (query, body)
                assert body["error"]["code"] == "invalid_request", (query, body)

    async def test_the_semantic_cache_off_is_not_found(self) -> None:
        off = settings(FRUGAL_CACHE_SEMANTIC_ENABLED="false")
        async with run_gateway(off) as gw, aiohttp.ClientSession() as http:
            status, body = await listing(http, gw.base_url)
            assert status == 404 and body["error"]["code"] == "not_found"
            ids = {"semantic_ids": ["0" * 32]}
            assert await invalidate(http, gw.base_url, ids) == (
                200,
                {"exact_removed": 0, "semantic_removed": 0},
            )


class TestInvalidateByIds:
    async def test_an_entry_dropped_by_id_is_no_longer_served(self) -> None:
        async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
            assert await v1(http, gw.base_url, QUESTION) == "miss"
            assert await v1(http, gw.base_url, "Do you ship to Canada?") == "miss"
            probe = {"x-frugal-cache": "no-store"}
            assert await v1(http, gw.base_url, PARAPHRASE, **probe) == "semantic"

            _, found = await listing(http, gw.base_url, {"q": "password"})
            [entry] = found["entries"]
            status, result = await invalidate(
                http, gw.base_url, {"semantic_ids": [entry["id"], "f" * 32]}
            )
            assert status == 200, result
            assert result == {"exact_removed": 0, "semantic_removed": 1}

            assert await v1(http, gw.base_url, PARAPHRASE, **probe) == "miss"
            _, left = await listing(http, gw.base_url)
            assert [e["question"] for e in left["entries"]] == ["do you ship to Canada?"]
            # The exact cache was not asked to forget: the very same question still hits it.
            assert await v1(http, gw.base_url, QUESTION) == "exact"

    async def test_bad_ids_are_refused(self) -> None:
        bad: tuple[dict[str, Any], ...] = (
            {"semantic_ids": []},
            {"semantic_ids": ["not-an-entry-id"]},
            {"semantic_ids": ["A" * 32]},
            {"semantic_ids": ["0" * 32] * 1001},
            {"semantic_ids": ["0" * 32], "tag": "kb-account-001"},
        )
        async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
            for payload in bad:
                status, body = await invalidate(http, gw.base_url, payload)
                assert status == 422, body
                assert body["error"]["code"] == "invalid_request", body

    async def test_reaches_every_replica_through_redis(self, redis_server: RedisServer) -> None:
        common = {"REDIS_URL": redis_server.url, "FRUGAL_REDIS_KEY_PREFIX": "sem-ids:"}
        probe = {"x-frugal-cache": "no-store"}
        async with (
            run_gateway(settings(**common)) as a,
            run_gateway(settings(**common)) as b,
            aiohttp.ClientSession() as http,
        ):
            assert await v1(http, a.base_url, QUESTION) == "miss"
            with anyio.fail_after(10):  # until b holds a's entry
                while await v1(http, b.base_url, PARAPHRASE, **probe) != "semantic":
                    await anyio.sleep(0.05)
            _, on_b = await listing(http, b.base_url)
            [entry] = on_b["entries"]
            status, result = await invalidate(http, a.base_url, {"semantic_ids": [entry["id"]]})
            assert (status, result["semantic_removed"]) == (200, 1)
            with anyio.fail_after(10):
                while await v1(http, b.base_url, PARAPHRASE, **probe) != "miss":
                    await anyio.sleep(0.05)
            assert (await listing(http, b.base_url))[1]["entries"] == []


class TestOnRedisVectorIndex:
    async def test_lists_and_drops_entries_of_the_shared_index(
        self, search_server: RedisServer
    ) -> None:
        shared = settings(
            REDIS_URL=search_server.url,
            FRUGAL_REDIS_KEY_PREFIX=f"adm{uuid.uuid4().hex[:8]}:",
            FRUGAL_REDIS_TIMEOUT_S="2",
            FRUGAL_CACHE_SEMANTIC_BACKEND="redis",
        )
        probe = {"x-frugal-cache": "no-store"}
        async with (
            run_gateway(shared) as a,
            run_gateway(shared) as b,
            aiohttp.ClientSession() as http,
        ):
            assert await v1(http, a.base_url, QUESTION) == "miss"
            assert await v1(http, a.base_url, "Do you ship to Canada?") == "miss"
            status, body = await listing(http, b.base_url, {"q": "password"})
            assert status == 200 and body["backend"] == "redis", body
            [entry] = body["entries"]
            assert (entry["question"], entry["tenant"]) == (
                "how do I reset my password?",
                "default",
            )
            assert 3000 < entry["expires_in_s"] <= 3600
            assert await v1(http, b.base_url, PARAPHRASE, **probe) == "semantic"

            status, result = await invalidate(http, b.base_url, {"semantic_ids": [entry["id"]]})
            assert (status, result) == (200, {"exact_removed": 0, "semantic_removed": 1})
            assert await v1(http, a.base_url, PARAPHRASE, **probe) == "miss"
            _, left = await listing(http, a.base_url)
            assert [e["question"] for e in left["entries"]] == ["do you ship to Canada?"]


def test_the_openapi_document_describes_the_listing() -> None:
    operation = build_document()["paths"]["/admin/cache/semantic"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["tenant", "tag", "q", "limit"]
    assert operation["security"] and "200" in operation["responses"]
    assert operation["responses"]["422"]["content"]["application/json"]
