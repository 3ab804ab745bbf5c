"""Browser pages with auth on: the sign-in endpoint and its signed session cookie over HTTP,
and, in headless Chromium, signing in on the chat page, chatting over the EventSource, and
signing in on the dashboard with a tenant read key."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest
from playwright.async_api import Browser

from server.session_cookie import COOKIE_NAME, SessionSigner
from server.settings import AuthSettings, ServerSettings, Settings
from tests.support.browser import launch_chromium
from tests.support.cost_http import ACME_KEY, ADMIN_KEY, bearer, fast_settings
from tests.support.gateway import RunningGateway, run_gateway

pytestmark = pytest.mark.anyio

READ_KEY = "acme-read-key-0123456789abcdef"
SECRET = "session-secret-0123456789abcdef-0123456789"


def auth_settings(**auth: object) -> Settings:
    base = fast_settings()
    keys = AuthSettings(
        api_keys=(f"acme:{ACME_KEY}",),
        read_keys=(f"acme:{READ_KEY}",),
        session_secret=SECRET,
        **auth,  # type: ignore[arg-type]
    )
    server: ServerSettings = msgspec.structs.replace(base.server, admin_key=ADMIN_KEY)
    return msgspec.structs.replace(base, auth=keys, server=server)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[RunningGateway]:
    async with run_gateway(auth_settings()) as running:
        yield running


def browser_like() -> aiohttp.ClientSession:
    # aiohttp keeps no cookies for IP-address hosts unless told to (the gateway is 127.0.0.1).
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(
    http: aiohttp.ClientSession, gw: RunningGateway, key: str
) -> aiohttp.ClientResponse:
    async with http.post(f"{gw.base_url}/auth/session", json={"key": key}) as response:
        await response.read()
        return response


class TestSessionCookie:
    async def test_the_cookie_is_signed_httponly_strict_and_short_lived(
        self, gateway: RunningGateway
    ) -> None:
        async with browser_like() as http:
            answer = await sign_in(http, gateway, ACME_KEY)
            assert answer.status == 200
            cookie = answer.headers["Set-Cookie"]
            attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
            assert {"httponly", "samesite", "max-age", "path"} <= attributes
            assert "SameSite=Strict" in cookie and "Max-Age=3600" in cookie
            assert ACME_KEY not in cookie
            async with http.get(f"{gateway.base_url}/auth/session") as response:
                assert await response.json() == {
                    "auth": True,
                    "signed_in": True,
                    "role": "caller",
                    "tenant": "acme",
                    "expires_at": (await answer.json())["expires_at"],
                }
            # The cookie stands in for the key on the chat stream (an EventSource).
            async with http.get(
                f"{gateway.base_url}/chat/stream", params={"message": "Do you ship to Canada?"}
            ) as response:
                assert response.status == 200
                assert "event: done" in await response.text()
            # ... but never on a state-changing endpoint.
            async with http.post(
                f"{gateway.base_url}/chat", json={"message": "Do you ship to Canada?"}
            ) as response:
                assert response.status == 401
            # An API key's session is not an operator's.
            async with http.get(f"{gateway.base_url}/stats") as response:
                assert response.status == 401

    async def test_wrong_forged_and_expired_sessions_are_refused(
        self, gateway: RunningGateway
    ) -> None:
        async with aiohttp.ClientSession() as http:
            wrong = await sign_in(http, gateway, "not-a-key-0123456789abcdef")
            assert wrong.status == 401
            assert "Set-Cookie" not in wrong.headers
            async with http.post(
                f"{gateway.base_url}/auth/session",
                data=f"key={ACME_KEY}",
                headers={"content-type": "application/x-www-form-urlencoded"},
            ) as response:
                assert response.status == 422  # JSON only: no other site's plain form
        other = SessionSigner("another-secret-0123456789abcdef-0123456", ttl_s=3600)
        past = SessionSigner(SECRET, ttl_s=60, clock=lambda: time.time() - 3600)
        admin_digest = hashlib.sha256(ADMIN_KEY.encode()).digest()
        for token in (
            other.issue("admin", admin_digest)[0],  # forged: not our secret
            past.issue("admin", admin_digest)[0],  # ours, but expired
            "garbage",
        ):
            async with (
                aiohttp.ClientSession(cookies={COOKIE_NAME: token}) as http,
                http.get(f"{gateway.base_url}/stats") as response,
            ):
                assert response.status == 401
        genuine = SessionSigner(SECRET, ttl_s=60).issue("admin", admin_digest)[0]
        async with (
            aiohttp.ClientSession(cookies={COOKIE_NAME: genuine}) as http,
            http.get(f"{gateway.base_url}/stats") as response,
        ):
            assert response.status == 200

    async def test_pages_are_the_sign_in_form_until_signed_in(
        self, gateway: RunningGateway
    ) -> None:
        async with browser_like() as http:
            for path in ("/", "/dashboard"):
                async with http.get(f"{gateway.base_url}{path}") as response:
                    assert response.status == 401
                    assert 'id="signin"' in await response.text()
                    assert "script-src 'self'" in response.headers["content-security-policy"]
            await sign_in(http, gateway, READ_KEY)
            async with http.get(f"{gateway.base_url}/dashboard") as response:
                assert response.status == 200 and 'id="signin"' not in await response.text()
            async with http.get(f"{gateway.base_url}/metrics") as response:
                assert response.status == 401  # the fleet's metrics: admin only
            async with http.delete(f"{gateway.base_url}/auth/session") as response:
                assert response.status == 204
            async with http.get(f"{gateway.base_url}/dashboard") as response:
                assert response.status == 401
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{gateway.base_url}/", headers=bearer(ACME_KEY)) as response,
        ):
            assert response.status == 200


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launch_chromium() as launched:
        yield launched


async def test_sign_in_and_chat_in_the_browser(gateway: RunningGateway, browser: Browser) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(f"{gateway.base_url}/")
        assert await page.locator("#signin").is_visible()
        await page.fill("#signin-key", "wrong-key-0123456789abcdef")
        await page.click("#signin-send")
        await page.locator("#signin-error").wait_for(state="visible")
        await page.fill("#signin-key", ACME_KEY)
        async with page.expect_navigation():
            await page.click("#signin-send")
        await page.locator("#sign-out").wait_for(state="visible")
        cookies = {c["name"]: c for c in await context.cookies()}
        assert cookies[COOKIE_NAME]["httpOnly"] and cookies[COOKIE_NAME]["sameSite"] == "Strict"
        assert await page.evaluate("document.cookie") == ""  # no script can read it

        await page.fill("#question", "How do I reset my password?")
        await page.click("#send")
        exchange = page.locator("#transcript > .exchange").first
        await exchange.and_(page.locator("[data-state='done']")).wait_for(timeout=30_000)
        assert (await exchange.locator(".answer").text_content() or "").strip()
        assert await exchange.locator(".error").is_hidden()

        # The dashboard wants an operator's key: the API key's session is not enough.
        await page.goto(f"{gateway.base_url}/dashboard")
        await page.fill("#signin-key", ACME_KEY)
        await page.click("#signin-send")
        await page.locator("#signin-error").wait_for(state="visible")
        assert "admin key" in (await page.locator("#signin-error").text_content() or "")
        await page.fill("#signin-key", READ_KEY)
        async with page.expect_navigation():
            await page.click("#signin-send")
        assert await page.locator("#signin").count() == 0
        assert problems == []
    finally:
        await context.close()
