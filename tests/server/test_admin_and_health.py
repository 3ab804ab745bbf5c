"""Readiness, cache invalidation by admins, and request limits, through the HTTP app."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import pytest

from server.config import load_settings
from server.settings import Settings
from tests.support.gateway import run_gateway
from tests.support.redis_server import ControllableRedisServer, RedisServer

pytestmark = pytest.mark.anyio

FAST = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}
ADMIN_KEY = "test-admin-key-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def settings(**extra: str) -> Settings:
    return load_settings({**FAST, "FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY, **extra})


async def ask(
    http: aiohttp.ClientSession, base_url: str, message: str, **fields: str
) -> dict[str, Any]:
    payload = {"message": message, **fields}
    async with http.post(f"{base_url}/chat", json=payload) as response:
        body = await response.json()
        assert response.status == 200, body
        return dict(body)


async def invalidate(
    http: aiohttp.ClientSession, base_url: str, payload: object, headers: dict[str, str] = AUTH
) -> tuple[int, dict[str, object]]:
    url = f"{base_url}/admin/cache/invalidate"
    async with http.post(url, json=payload, headers=headers) as response:
        return response.status, dict(await response.json())


class TestReadiness:
    async def test_embedded_default_is_ready(self) -> None:
        async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
            response = await http.get(f"{gw.base_url}/readyz")
            body = await response.json()
        assert response.status == 200, body
        assert body["status"] == "ready"
        checks = body["checks"]
        assert set(checks) == {"embedder", "providers", "redis"}
        assert all(check["ok"] for check in checks.values())
        assert "not configured" in checks["redis"]["detail"]
        assert "simulated" in checks["providers"]["detail"]
        assert response.headers["Cache-Control"] == "no-store"

    async def test_redis_outage_leaves_it_ready_but_degraded(self) -> None:
        with ControllableRedisServer() as server:
            async with (
                run_gateway(settings(REDIS_URL=server.url)) as gw,
                aiohttp.ClientSession() as http,
            ):
                status, body = await get_json(http, f"{gw.base_url}/readyz")
                assert status == 200 and body["degraded"] == []
                server.stop()
                status, body = await get_json(http, f"{gw.base_url}/readyz")
                # Still serving (uncached, costs journaled): keep it in the load balancer.
                assert status == 200
                assert body["status"] == "degraded"
                assert body["degraded"] == ["redis"]
                assert body["checks"]["redis"]["ok"] is False
                assert body["checks"]["embedder"]["ok"] is True
                assert (await get_json(http, f"{gw.base_url}/healthz"))[0] == 200
                server.start()
                with anyio.fail_after(10):
                    while (await get_json(http, f"{gw.base_url}/readyz"))[1]["status"] != "ready":
                        await anyio.sleep(0.1)

    async def test_a_budget_that_fails_closed_stays_ready_and_says_so(self) -> None:
        # Defect 5: every replica answered 503 while Redis was down although they served.
        with ControllableRedisServer() as server:
            env = settings(REDIS_URL=server.url, FRUGAL_BUDGET_GLOBAL_DAILY_USD_MICROS="1000000")
            assert env.budget.fail_open is False  # fail-closed is the default
            async with run_gateway(env) as gw, aiohttp.ClientSession() as http:
                server.stop()
                status, body = await get_json(http, f"{gw.base_url}/readyz")
        assert status == 200
        assert body["status"] == "degraded" and body["degraded"] == ["redis"]
        assert "fail-closed" in body["checks"]["redis"]["detail"]


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    """Status and JSON body of a GET, the connection released before returning."""
    async with http.get(url) as response:
        return response.status, await response.json()


class TestInvalidation:
    async def test_disabled_without_an_admin_key(self) -> None:
        async with (
            run_gateway(load_settings(FAST)) as gw,
            aiohttp.ClientSession() as http,
        ):
            status, body = await invalidate(http, gw.base_url, {"tag": "x"})
        assert status == 404
        assert "FRUGAL_SERVER_ADMIN_KEY" in str(body["error"])

    @pytest.mark.parametrize(
        ("headers", "payload", "status", "code"),
        [
            ({}, {"tag": "x"}, 401, "unauthorized"),
            ({"Authorization": "Bearer wrong-key-wrong-key"}, {"tag": "x"}, 401, "unauthorized"),
            ({"Authorization": ADMIN_KEY}, {"tag": "x"}, 401, "unauthorized"),
            (AUTH, {}, 422, "invalid_request"),
            (AUTH, {"tag": "x", "message": "hi"}, 422, "invalid_request"),
            (AUTH, {"tag": "x", "colour": "red"}, 422, "unknown_field"),
            (AUTH, {"tag": ""}, 422, "invalid_request"),
        ],
    )
    async def test_refusals(
        self, headers: dict[str, str], payload: object, status: int, code: str
    ) -> None:
        async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
            got_status, body = await invalidate(http, gw.base_url, payload, headers)
        assert got_status == status, body
        assert body["error"]["code"] == code  # type: ignore[index]

    async def test_by_question_and_by_document(self) -> None:
        async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
            first = await ask(http, gw.base_url, "How do I reset my password?")
            assert (await ask(http, gw.base_url, "How do I reset my password?"))["cache"]
            status, removed = await invalidate(
                http, gw.base_url, {"message": "How do I reset my password?"}
            )
            assert status == 200, removed
            assert removed == {"exact_removed": 1, "semantic_removed": 1}
            again = await ask(http, gw.base_url, "How do I reset my password?")
            assert again["cache"] is None and again["cost_usd_micros"] > 0

            sources = first["sources"]
            assert isinstance(sources, list) and sources, first
            status, removed = await invalidate(http, gw.base_url, {"doc_id": sources[0]})
            assert status == 200
            assert removed == {"exact_removed": 1, "semantic_removed": 1}
            # Neither the exact question nor a paraphrase is served from the caches now.
            paraphrase = await ask(http, gw.base_url, "How can I reset my password?")
            assert paraphrase["cache"] is None
            status, removed = await invalidate(http, gw.base_url, {"tag": "no-such-doc"})
            assert status == 200 and removed == {"exact_removed": 0, "semantic_removed": 0}

    async def test_reaches_every_replica_through_redis(self, redis_server: RedisServer) -> None:
        common = {"REDIS_URL": redis_server.url, "FRUGAL_REDIS_KEY_PREFIX": "admin-inval:"}
        async with (
            run_gateway(settings(**common)) as a,
            run_gateway(settings(**common)) as b,
            aiohttp.ClientSession() as http,
        ):
            first = await ask(http, a.base_url, "How long does shipping take?")
            sources = first["sources"]
            assert isinstance(sources, list) and sources, first
            # Wait until replica b holds a's semantic entry (probes store nothing themselves).
            probe = {"cache": "no-store"}
            with anyio.fail_after(10):
                while (await ask(http, b.base_url, "How long will shipping take?", **probe))[
                    "cache"
                ] != "semantic":
                    await anyio.sleep(0.05)
            status, removed = await invalidate(http, a.base_url, {"doc_id": sources[0]})
            assert status == 200 and removed["exact_removed"] == 1, removed
            with anyio.fail_after(10):
                while True:
                    on_b = await ask(http, b.base_url, "How long will shipping take?", **probe)
                    if on_b["cache"] is None:
                        break
                    await anyio.sleep(0.05)
            assert (await ask(http, b.base_url, "How long does shipping take?"))["cache"] is None


class TestLimits:
    async def test_prompt_over_the_token_limit_is_413(self) -> None:
        extra = {"FRUGAL_AGENT_MAX_PROMPT_TOKENS": "20"}
        async with run_gateway(settings(**extra)) as gw, aiohttp.ClientSession() as http:
            message = "please explain " + "the shipping policy " * 20
            async with http.post(f"{gw.base_url}/chat", json={"message": message}) as response:
                body = await response.json()
                assert response.status == 413, body
                assert body["error"]["code"] == "prompt_too_long"
                assert "20" in body["error"]["message"]
            ok = await ask(http, gw.base_url, "Hello")
            assert ok["answer"]
