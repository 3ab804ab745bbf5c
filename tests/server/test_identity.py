"""Identity bound to the API key, over real HTTP: who the user is, whose data they may read,
whose history they continue, who may read the operator endpoints, and the failed-auth limit."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from server.settings import AuthSettings, ServerSettings, Settings
from server.signed_user import user_signature
from tests.support.cost_http import ACME_KEY, BETA_KEY, bearer, fast_settings
from tests.support.gateway import RunningGateway, run_gateway

ADA_KEY = "acme-ada-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
READ_KEY = "acme-read-key-0123456789abcdef"
SECRET = "acme-signing-secret-0123456789abcdefXYZ"
pytestmark = pytest.mark.anyio

DEMO = json.loads((Path(__file__).parents[2] / "examples/support/demo_accounts.json").read_text())


def settings(**auth: Any) -> Settings:
    base = fast_settings()
    keys = AuthSettings(
        api_keys=(f"acme:{ACME_KEY}", f"beta:{BETA_KEY}", f"acme:{ADA_KEY}:u-1001"),
        user_signing_keys=(f"acme:{SECRET}",),
        read_keys=(f"acme:{READ_KEY}",),
        **auth,
    )
    server = msgspec.structs.replace(base.server, admin_key=ADMIN_KEY)
    return msgspec.structs.replace(base, auth=keys, server=server)


def signed(
    user: str, *, tenant: str = "acme", ts: int | None = None, secret: str = SECRET
) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    return {
        "x-frugal-user": user,
        "x-frugal-user-ts": stamp,
        "x-frugal-user-sig": user_signature(secret, tenant, user, stamp),
    }


def user_data(user_id: str) -> list[str]:
    """Strings only ``user_id``'s profile and orders contain."""
    user = next(u for u in DEMO["users"] if u["id"] == user_id)
    orders = [o for o in DEMO["orders"] if o["user_id"] == user_id]
    return [user["name"], user["email"], *(o["tracking"] for o in orders if o["tracking"])]


async def chat(
    http: aiohttp.ClientSession, gw: RunningGateway, headers: dict[str, str], **body: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{gw.base_url}/chat", json=body, headers=headers) as response:
        return response.status, await response.json()


def tool_traces(body: dict[str, Any]) -> dict[str, tuple[bool, str | None]]:
    return {t["name"]: (t["ok"], t["error"]) for t in body["tools"]}


class TestSettings:
    def test_key_formats_and_secret_lengths_are_checked(self) -> None:
        AuthSettings(api_keys=(f"acme:{ACME_KEY}", f"acme:{ADA_KEY}:u-1001"))
        with pytest.raises(ValueError, match="user_signing_keys"):
            AuthSettings(user_signing_keys=("acme:too-short",))
        with pytest.raises(ValueError, match="read_keys"):
            AuthSettings(read_keys=(f"acme:{READ_KEY}:u-1",))
        with pytest.raises(ValueError, match="once"):
            AuthSettings(api_keys=(f"acme:{ACME_KEY}",), read_keys=(f"beta:{ACME_KEY}",))

    def test_admin_key_setting_is_reused(self) -> None:
        assert ServerSettings(admin_key=ADMIN_KEY).admin_key == ADMIN_KEY


class TestPersonalData:
    async def test_tenant_key_cannot_read_another_users_profile(
        self, http: aiohttp.ClientSession
    ) -> None:
        async with run_gateway(settings()) as gw:
            question = "Which plan is on my account? Where is my order 1002?"
            status, body = await chat(
                http, gw, bearer(ACME_KEY), message=question, user_id="u-1002"
            )
            assert status == 403 and body["error"]["code"] == "forbidden"

            status, body = await chat(http, gw, bearer(ACME_KEY), message=question)
            assert status == 200, body
            traces = tool_traces(body)
            assert traces["user_profile"][0] is False and "verified user" in str(
                traces["user_profile"][1]
            )
            assert traces["order_status"][0] is False and "verified user" in str(
                traces["order_status"][1]
            )
            text = json.dumps(body)
            assert not any(secret in text for secret in user_data("u-1002"))
            assert not any(s.startswith(("user:", "order:")) for s in body["sources"])

    async def test_key_bound_to_a_user_reads_only_that_users_orders(
        self, http: aiohttp.ClientSession
    ) -> None:
        async with run_gateway(settings()) as gw:
            status, own = await chat(http, gw, bearer(ADA_KEY), message="Where is my order 1001?")
            assert status == 200, own
            assert "order:1001" in own["sources"]
            status, other = await chat(http, gw, bearer(ADA_KEY), message="Where is my order 1002?")
            assert status == 200, other
            assert not any(s.startswith("order:") for s in other["sources"])
            assert not any(secret in json.dumps(other) for secret in user_data("u-1002"))
            status, profile = await chat(
                http, gw, bearer(ADA_KEY), message="Which plan is on my account?", user_id="u-1001"
            )
            assert status == 200 and "user:u-1001" in profile["sources"]
            status, body = await chat(
                http, gw, bearer(ADA_KEY), message="Which plan is on my account?", user_id="u-1002"
            )
            assert status == 403 and body["error"]["code"] == "forbidden"
            status, body = await chat(
                http,
                gw,
                {**bearer(ADA_KEY), **signed("u-1002")},
                message="Which plan is on my account?",
            )
            assert status == 403

    async def test_stream_query_user_id_is_checked_too(self, http: aiohttp.ClientSession) -> None:
        async with run_gateway(settings()) as gw:
            params = {
                "message": "Which plan is on my account?",
                "user_id": "u-1002",
                "api_key": ADA_KEY,
            }
            async with http.get(f"{gw.base_url}/chat/stream", params=params) as response:
                assert response.status == 403
                assert (await response.json())["error"]["code"] == "forbidden"


class TestSignedUser:
    async def test_valid_signature_makes_the_verified_user(
        self, http: aiohttp.ClientSession
    ) -> None:
        headers = {**bearer(ACME_KEY), **signed("u-1002")}
        async with run_gateway(settings()) as gw:
            status, body = await chat(http, gw, headers, message="Which plan is on my account?")
            assert status == 200, body
            assert "user:u-1002" in body["sources"]
            status, body = await chat(
                http, gw, headers, message="Which plan is on my account?", user_id="u-1001"
            )
            assert status == 403

    @pytest.mark.parametrize(
        "headers",
        [
            signed("u-1002", ts=int(time.time()) - 3600),  # stale
            signed("u-1002", secret="x" * 40),  # forged
            {**signed("u-1002"), "x-frugal-user": "u-1001"},  # signed for another user
            {"x-frugal-user": "u-1002"},  # unsigned
        ],
        ids=["stale", "forged", "swapped", "unsigned"],
    )
    async def test_bad_signature_is_401(
        self, http: aiohttp.ClientSession, headers: dict[str, str]
    ) -> None:
        async with run_gateway(settings()) as gw:
            status, body = await chat(
                http, gw, {**bearer(ACME_KEY), **headers}, message="Which plan is on my account?"
            )
            assert status == 401 and body["error"]["code"] == "unauthorized"
            assert "signed user rejected" in body["error"]["message"]

    async def test_tenant_without_a_signing_key_cannot_name_users(
        self, http: aiohttp.ClientSession
    ) -> None:
        async with run_gateway(settings()) as gw:
            headers = {**bearer(BETA_KEY), **signed("u-1002", tenant="beta")}
            status, _ = await chat(http, gw, headers, message="hello")
            assert status == 401


class TestHistory:
    async def test_same_session_id_is_private_to_each_user(
        self, http: aiohttp.ClientSession
    ) -> None:
        async with run_gateway(settings()) as gw:
            grace = {**bearer(ACME_KEY), **signed("u-1002")}
            status, first = await chat(
                http, gw, grace, message="My favourite colour is teal-zebra.", session_id="s-1"
            )
            assert status == 200, first
            _, grace_again = await chat(
                http, gw, grace, message="What did I say?", session_id="s-1", cache="no-cache"
            )
            _, ada = await chat(
                http,
                gw,
                bearer(ADA_KEY),
                message="What did I say?",
                session_id="s-1",
                cache="no-cache",
            )
            _, anonymous = await chat(
                http,
                gw,
                bearer(ACME_KEY),
                message="What did I say?",
                session_id="s-1",
                cache="no-cache",
            )
            # The stored turns make the prompt longer only for the user who wrote them.
            assert grace_again["usage"]["prompt"] > ada["usage"]["prompt"]
            assert ada["usage"]["prompt"] == anonymous["usage"]["prompt"]


class TestOperatorEndpoints:
    async def test_stats_metrics_dashboard_need_the_admin_key(
        self, http: aiohttp.ClientSession
    ) -> None:
        async with run_gateway(settings()) as gw:
            for path in ("/stats", "/metrics", "/dashboard"):
                async with http.get(f"{gw.base_url}{path}") as response:
                    assert response.status == 401, path
                async with http.get(f"{gw.base_url}{path}", headers=bearer(ACME_KEY)) as response:
                    assert response.status == 401, path
                async with http.get(f"{gw.base_url}{path}", headers=bearer(ADMIN_KEY)) as response:
                    assert response.status == 200, path
                async with http.get(
                    f"{gw.base_url}{path}", headers={"x-api-key": ADMIN_KEY}
                ) as response:
                    assert response.status == 200, path
            for path in ("/healthz", "/readyz"):
                async with http.get(f"{gw.base_url}{path}") as response:
                    assert response.status == 200, path
            async with http.get(f"{gw.base_url}/metrics", headers=bearer(READ_KEY)) as response:
                assert response.status == 401

    async def test_read_key_sees_only_its_tenant(self, http: aiohttp.ClientSession) -> None:
        async with run_gateway(settings()) as gw:
            await chat(http, gw, bearer(ACME_KEY), message="How do I reset my password?")
            for question in ("What is your refund policy?", "Do you ship to Canada?"):
                status, _ = await chat(http, gw, bearer(BETA_KEY), message=question)
                assert status == 200
            async with http.get(f"{gw.base_url}/stats", headers=bearer(ADMIN_KEY)) as response:
                fleet = await response.json()
            async with http.get(f"{gw.base_url}/stats", headers=bearer(READ_KEY)) as response:
                assert response.status == 200
                mine = await response.json()
            assert set(fleet["by_tenant"]) == {"acme", "beta"} and fleet["calls"] == 3
            assert set(mine["by_tenant"]) == {"acme"}
            assert mine["calls"] == 1 == fleet["by_tenant"]["acme"]["calls"]
            assert mine["cost_usd_micros"] == fleet["by_tenant"]["acme"]["cost_usd_micros"]
            assert mine["by_model"] == {} and mine["spend_series"] == []


class TestFailedAuthLimit:
    async def test_too_many_failures_from_one_address_get_429(
        self, http: aiohttp.ClientSession
    ) -> None:
        async with run_gateway(settings(max_failures_per_minute=3)) as gw:
            for _ in range(3):
                status, _ = await chat(http, gw, bearer("wrong-key-0123456789"), message="hi")
                assert status == 401
            async with http.post(
                f"{gw.base_url}/chat", json={"message": "hi"}, headers=bearer(ACME_KEY)
            ) as response:
                assert response.status == 429
                assert int(response.headers["Retry-After"]) >= 1
                assert (await response.json())["error"]["code"] == "rate_limited"
            async with http.get(f"{gw.base_url}/stats", headers=bearer(ADMIN_KEY)) as response:
                assert response.status == 429
            async with http.get(f"{gw.base_url}/healthz") as response:
                assert response.status == 200
