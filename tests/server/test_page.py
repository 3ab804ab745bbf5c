"""The chat page: its headers over plain HTTP, and the page itself in headless Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page

from server.config import load_settings
from server.routes.chat import MAX_MESSAGE_CHARS
from tests.support.browser import launch_chromium
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.redis_server import free_port

pytestmark = pytest.mark.anyio

# Slow enough that the page visibly receives the answer piece by piece.
PACED = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "200",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "200",
}

# Records every EventSource the page opens, so a test can see that each one was closed
# (an open one would reconnect and ask the question again).
TRACK_EVENT_SOURCES = """
(() => {
  const Native = window.EventSource;
  window.__eventSources = [];
  window.EventSource = class extends Native {
    constructor(...args) { super(...args); window.__eventSources.push(this); }
  };
})();
"""

# Samples the last exchange every 10 ms until it leaves the "streaming" state: the answer
# length and whether the send button is disabled while the answer is still streaming.
SAMPLE_STREAMING = """
() => {
  window.__samples = new Promise((resolve) => {
    const samples = [];
    const timer = setInterval(() => {
      const exchange = document.querySelector("#transcript > .exchange:last-child");
      if (!exchange) return;
      if (exchange.dataset.state !== "streaming") {
        clearInterval(timer);
        resolve(samples);
        return;
      }
      const answer = exchange.querySelector(".answer").textContent;
      samples.push({length: answer.length, sendDisabled: document.getElementById("send").disabled});
    }, 10);
  });
}
"""

USD = re.compile(r"^\$\d+\.\d{6}$")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope, so that one gateway and one browser serve every test of this file.
    return "asyncio"


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[RunningGateway]:
    """The embedded gateway with the paced simulated provider; tests ask distinct questions."""
    async with run_gateway(load_settings(PACED)) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launch_chromium() as launched:
        yield launched


@asynccontextmanager
async def open_page(
    browser: Browser, gateway: RunningGateway
) -> AsyncIterator[tuple[Page, list[str]]]:
    """The chat page in a fresh browser context; yields it and its console/page errors."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.append(f"console: {message.text}")

        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", on_console)
        await page.add_init_script(TRACK_EVENT_SOURCES)
        async with page.expect_response("**/static/app.js") as script:
            await page.goto(f"{gateway.base_url}/")
        assert (await script.value).ok, "create_app must mount page.PageAssets() at /static"
        yield page, problems
    finally:
        await context.close()


async def ask(page: Page, question: str, *, press_enter: bool = False) -> None:
    """Type ``question`` and send it; return once its exchange left the streaming state."""
    count = await page.locator("#transcript > .exchange").count()
    await page.fill("#question", question)
    if press_enter:
        await page.press("#question", "Enter")
    else:
        await page.click("#send")
    exchange = page.locator("#transcript > .exchange").nth(count)
    await exchange.and_(page.locator(":not([data-state='streaming'])")).wait_for(timeout=30_000)


async def stream_requests(page: Page) -> int:
    return int(await page.evaluate("window.__eventSources.length"))


async def all_streams_closed(page: Page) -> bool:
    # EventSource.CLOSED == 2
    return bool(await page.evaluate("window.__eventSources.every((s) => s.readyState === 2)"))


async def test_page_is_served_with_a_strict_policy_and_no_cache(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gateway.base_url}/") as response:
            body = await response.text()
            assert response.status == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-content-type-options"] == "nosniff"
            csp = response.headers["content-security-policy"]
        async with http.get(f"{gateway.base_url}/static/app.js") as script:
            assert script.status == 200, "create_app must mount page.PageAssets() at /static"
            assert "javascript" in script.headers["content-type"]
            assert script.headers["cache-control"] == "no-cache"
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # Every script of the page is external, so the policy really forbids inline code.
    assert '<script src="/static/app.js"' in body
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body) is None


async def test_answer_streams_in_then_a_repeat_is_a_free_exact_hit(
    gateway: RunningGateway, browser: Browser
) -> None:
    question = "How do I reset my password?"
    async with open_page(browser, gateway) as (page, problems):
        await page.evaluate(SAMPLE_STREAMING)
        await ask(page, question)
        samples = await page.evaluate("window.__samples")

        first = page.locator("#transcript > .exchange").nth(0)
        assert await first.get_attribute("data-state") == "done"
        answer = await first.locator(".answer").text_content() or ""
        # Streamed: at least two different partial answers were on screen before `done`,
        # and the send button stayed disabled meanwhile.
        partial = {s["length"] for s in samples if 0 < s["length"] < len(answer)}
        assert len(partial) >= 2, samples
        assert all(s["sendDisabled"] for s in samples)
        assert await page.locator("#send").is_enabled()
        assert await first.locator(".meta-cache").get_attribute("data-cache") == "miss"
        models = gateway.settings.models
        routes = {f"cheap · {models.cheap}", f"strong · {models.strong}"}
        assert await first.locator(".meta-route").text_content() in routes
        cost = await first.locator(".meta-cost").text_content() or ""
        assert USD.match(cost), cost
        assert int(await first.locator(".meta-cost").get_attribute("data-micros") or 0) > 0
        assert await first.locator(".meta-simulated").is_visible()
        assert re.fullmatch(r"\d+ ms", await first.locator(".meta-latency").text_content() or "")

        # Asked again (questions are independent by default): an exact cache hit.
        await ask(page, question, press_enter=True)
        repeat = page.locator("#transcript > .exchange").nth(1)
        assert await repeat.get_attribute("data-state") == "done"
        assert await repeat.locator(".meta-cache").get_attribute("data-cache") == "exact"
        assert await repeat.locator(".meta-cost").text_content() == "$0.000000"
        assert await repeat.locator(".meta-saved").text_content() == f"saved {cost}"
        assert await repeat.locator(".answer").text_content() == answer

        # Remembering the conversation: a repeat inside the session depends on the history
        # sent with it, so it is answered afresh.
        await page.check("#keep-context")
        await ask(page, question)
        await ask(page, question)
        in_session = page.locator("#transcript > .exchange").nth(3)
        assert await in_session.locator(".meta-cache").get_attribute("data-cache") == "miss"
        urls = await page.evaluate("window.__eventSources.map((s) => s.url)")
        assert ["session_id=" in url for url in urls] == [False, False, True, True]

        assert await stream_requests(page) == 4
        assert await all_streams_closed(page)
    assert problems == []


async def test_refused_request_shows_an_error_and_does_not_retry(
    gateway: RunningGateway, browser: Browser
) -> None:
    # Over the message limit: /chat/stream answers 422 JSON before any event, which
    # EventSource reports as a failed connection.
    too_long = "a" * (MAX_MESSAGE_CHARS + 1)
    async with open_page(browser, gateway) as (page, problems):
        await ask(page, too_long)
        exchange = page.locator("#transcript > .exchange").nth(0)
        assert await exchange.get_attribute("data-state") == "error"
        error = exchange.locator(".error")
        assert await error.is_visible()
        assert await error.get_attribute("data-code") == "connection"
        assert await exchange.locator(".answer").text_content() == ""
        assert await page.locator("#send").is_enabled()
        # Long enough for a reconnecting EventSource to have asked again.
        await page.wait_for_timeout(500)
        assert await stream_requests(page) == 1
        assert await all_streams_closed(page)
    # Chromium logs the refused response itself; nothing else may fail.
    assert problems == [
        "console: Failed to load resource: the server responded with a status of 422"
        " (Unprocessable Entity)"
    ]


async def test_failure_after_the_stream_started_shows_the_server_error(browser: Browser) -> None:
    # The provider is unreachable: the stream starts (meta), then ends with `event: error`.
    dead = f"http://127.0.0.1:{free_port()}/v1"
    settings = load_settings(
        {
            **PACED,
            "OPENAI_BASE_URL": dead,
            "OPENAI_API_KEY": "k",
            "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1",
        }
    )
    async with run_gateway(settings) as gw, open_page(browser, gw) as (page, problems):
        await ask(page, "Where is my order?")
        exchange = page.locator("#transcript > .exchange").nth(0)
        assert await exchange.get_attribute("data-state") == "error"
        error = exchange.locator(".error")
        assert await error.get_attribute("data-code") == "upstream_error"
        assert (await error.text_content() or "").startswith("upstream_error: ")
        assert await exchange.locator(".meta-cache").get_attribute("data-cache") == "miss"
        assert await stream_requests(page) == 1
        assert await all_streams_closed(page)
    assert problems == []
