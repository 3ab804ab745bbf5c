"""The cost dashboard: its headers and vendored files over HTTP, and the live page in Chromium
(charts drawn from the server's history, kept across a reload; the tenant selector)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Route

from agent.agents import SUPPORT_AGENT_FILE
from agent.agents.experiments import draw
from server.config import load_settings
from server.routes.page import CONTENT_SECURITY_POLICY
from tests.server.test_agent_variants_http import CONFIG as VARIANTS_CONFIG
from tests.support.browser import launch_chromium
from tests.support.cost_http import ACME_KEY, ADMIN_KEY, BETA_KEY, bearer, with_keys
from tests.support.gateway import RunningGateway, run_gateway

pytestmark = pytest.mark.anyio

FAST = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}
# A cap far above what the test spends: the gauge shows, nothing is refused.
BUDGET = {"FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS": "2000000"}

VENDOR = files("server").joinpath("static", "vendor")
USD = re.compile(r"^\$\d[\d,]*\.\d+$")
POLL_MS = 300

# Every CSP violation, whether or not Chromium also logs it to the console.
TRACK_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
});
"""

# Per chart canvas: its size and how many pixels carry one of its series' colours exactly.
PAINTED = """
() => Object.fromEntries([...document.querySelectorAll(".plot")].map((plot) => {
  const name = plot.id.replace(/^chart-/, "");
  const canvas = plot.querySelector("canvas");
  if (!canvas) return [name, null];
  const colors = window.__frugalDashboard.charts[name].colors.map((hex) =>
    [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inSeriesColor = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3] === 255 && colors.some(([r, g, b]) =>
        pixels[i] === r && pixels[i + 1] === g && pixels[i + 2] === b)) inSeriesColor += 1;
  }
  return [name, {width: canvas.width, height: canvas.height, inSeriesColor}];
}))
"""


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[RunningGateway]:
    """A gateway without budgets that no test sends questions to."""
    async with run_gateway(load_settings(FAST)) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launch_chromium() as launched:
        yield launched


@asynccontextmanager
async def open_dashboard(
    browser: Browser, gateway: RunningGateway, *, before: Any = None
) -> AsyncIterator[tuple[Page, list[str]]]:
    """The dashboard polling every `POLL_MS`; yields the page and its console/page errors."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.append(f"console: {message.text}")

        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", on_console)
        await page.add_init_script(TRACK_CSP)
        if before is not None:
            await before(page)
        await page.goto(f"{gateway.base_url}/dashboard?interval={POLL_MS}")
        yield page, problems
        assert await page.evaluate("window.__cspViolations") == []
    finally:
        await context.close()


async def ask(http: aiohttp.ClientSession, base_url: str, message: str) -> dict[str, Any]:
    async with http.post(f"{base_url}/chat", json={"message": message}) as response:
        body = await response.json()
        assert response.status == 200, body
        return dict(body)


async def ask_streaming(http: aiohttp.ClientSession, base_url: str, message: str) -> dict[str, Any]:
    """Asks over ``/chat/stream`` (the path that measures time to first token); its ``done``."""
    async with http.get(f"{base_url}/chat/stream", params={"message": message}) as response:
        assert response.status == 200
        text = await response.text()
    done = re.search(r"^event: done\r?\ndata: (.+)$", text, re.MULTILINE)
    assert done is not None, text
    return dict(json.loads(done[1]))


async def wait_until(page: Page, expression: str) -> None:
    """Polls ``expression`` in the page until it is true (`Page.wait_for_function` evaluates
    its predicate with ``eval``, which the page's CSP rightly refuses)."""
    with anyio.fail_after(30):
        while not await page.evaluate(expression):
            await anyio.sleep(0.05)


async def dashboard_state(page: Page) -> dict[str, Any]:
    return dict(await page.evaluate("window.__frugalDashboard"))


def test_vendored_uplot_matches_its_readme() -> None:
    readme = VENDOR.joinpath("README.md").read_text()
    script = VENDOR.joinpath("uPlot.iife.min.js").read_text()
    version = re.search(r"## uPlot (\d+\.\d+\.\d+)", readme)
    assert version is not None
    assert script.startswith(f"/*! https://github.com/leeoniya/uPlot (v{version[1]}) */")
    assert f"https://registry.npmjs.org/uplot/-/uplot-{version[1]}.tgz" in readme
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"):
        digest = hashlib.sha256(VENDOR.joinpath(name).read_bytes()).hexdigest()
        assert re.search(rf"`{re.escape(name)}`.*`{digest}`", readme), name
    assert "The MIT License" in VENDOR.joinpath("uPlot.LICENSE").read_text()


async def test_dashboard_and_its_assets_are_served_under_the_strict_policy(
    gateway: RunningGateway,
) -> None:
    gw = gateway
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gw.base_url}/dashboard") as response:
            body = await response.text()
            assert response.status == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-content-type-options"] == "nosniff"
        assets = {
            "/static/dashboard.js": "javascript",
            "/static/dashboard-chart.js": "javascript",
            "/static/dashboard.css": "text/css",
            "/static/vendor/uPlot.iife.min.js": "javascript",
            "/static/vendor/uPlot.min.css": "text/css",
            # No extension: served as a download, which is fine for a license text.
            "/static/vendor/uPlot.LICENSE": "application/octet-stream",
        }
        for path, kind in assets.items():
            async with http.get(f"{gw.base_url}{path}") as asset:
                assert asset.status == 200, path
                assert kind in asset.headers["content-type"], (path, asset.headers)
                assert asset.headers["x-content-type-options"] == "nosniff"
                assert len(await asset.read()) > 0
        async with http.get(f"{gw.base_url}/") as chat:
            assert 'href="/dashboard"' in await chat.text()
    # Nothing inline for the policy to forbid, and nothing from another origin.
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body) is None
    assert "<style" not in body and " style=" not in body
    assert re.findall(r'(?:src|href)="([^"]+)"', body) == [
        "/static/favicon.svg",
        "/static/vendor/uPlot.min.css",
        "/static/dashboard.css",
        "/static/vendor/uPlot.iife.min.js",
        "/static/dashboard-chart.js",
        "/static/dashboard.js",
        "/",
    ]


async def test_charts_fill_with_live_data_after_a_few_requests(browser: Browser) -> None:
    questions = [
        "How do I reset my password?",
        "Can I cancel my order?",
        "Explain step by step how to migrate a PostgreSQL database to a new major version.",
    ]
    async with (
        run_gateway(load_settings({**FAST, **BUDGET})) as gw,
        open_dashboard(browser, gw) as (page, problems),
        aiohttp.ClientSession() as http,
    ):
        await wait_until(page, "window.__frugalDashboard.polls >= 1")
        answers = [await ask(http, gw.base_url, q) for q in questions]
        streamed = await ask_streaming(http, gw.base_url, "Where is my order?")
        answers += [await ask(http, gw.base_url, q) for q in questions[:2]]
        calls = len(answers) + 1
        await wait_until(
            page,
            f"(window.__frugalDashboard.stats || {{}}).calls === {calls} && "
            "window.__frugalDashboard.history.points.reduce((n, p) => n + p.calls, 0)"
            f" === {calls}",
        )
        state = await dashboard_state(page)
        painted = await page.evaluate(PAINTED)

        # The tiles show exactly what the responses were billed and saved.
        billed = sum(a["cost_usd_micros"] for a in answers) + streamed["cost_usd_micros"]
        saved = sum(a["saved_usd_micros"] for a in answers) + streamed["saved_usd_micros"]
        exact_saved = sum(a["saved_usd_micros"] for a in answers if a["cache"] == "exact")
        assert billed > 0
        assert [a["cache"] for a in answers[-2:]] == ["exact", "exact"]
        assert await page.get_attribute("#kpi-calls", "data-value") == str(calls)
        assert await page.get_attribute("#kpi-cost", "data-micros") == str(billed)
        assert USD.match(await page.text_content("#kpi-cost") or "")
        assert await page.get_attribute("#kpi-saved", "data-micros") == str(saved)
        assert (await page.text_content("#kpi-saved-split") or "").startswith("exact cache $")
        assert await page.text_content("#kpi-exact") == "33.3%"  # 2 of 6 calls
        assert await page.is_visible("[data-testid=simulated]")
        assert not await page.is_visible("[data-testid=banner]")

        # Savings by mechanism, each with the baseline it is measured against.
        rows = page.locator("#saved-rows tr")
        assert await rows.count() == 4
        exact_row = page.locator("#saved-rows tr[data-mechanism=exact_cache]")
        assert await exact_row.get_attribute("data-micros") == str(exact_saved)
        assert "cached answer's own price" in (await exact_row.text_content() or "")
        routing_row = page.locator("#saved-rows tr[data-mechanism=routing]")
        assert "strong model's price" in (await routing_row.text_content() or "")

        # The batch lane's tile (enabled, nothing sent yet).
        assert await page.get_attribute("#kpi-batch", "data-value") == "0"
        assert "saved $0.000000 vs interactive" in (
            await page.text_content("#kpi-batch-detail") or ""
        )

        # Every chart is drawn from the server's history and shows its series' colours.
        charts = state["charts"]
        models = {a["model"] for a in answers[:3]} | {streamed["model"]}
        assert models <= set(charts["spend"]["series"])
        assert sum(charts["spend"]["last"][m] for m in models) == pytest.approx(billed / 1e6)
        assert charts["saved"]["series"] == ["exact cache", "semantic cache", "routing", "batch"]
        assert charts["cache"]["max"] > 0 and charts["routes"]["max"] > 0
        assert charts["latency"]["last"]["p50"] > 0
        assert charts["latency"]["last"]["TTFT p50"] > 0
        for name, chart in charts.items():
            assert chart["points"] == 60, name  # the default window: an hour of minutes
            assert chart["max"] > 0, name
            assert chart["draws"] > 0, name
            assert painted[name]["width"] > 0 and painted[name]["height"] > 0, name
            assert painted[name]["inSeriesColor"] > 0, name

        # The configured global hourly budget, with what the calls spent.
        budget = page.locator("[data-testid=budget]")
        assert await budget.count() == 1
        assert "Global · hourly" in (await budget.text_content() or "")
        assert "resets at" in (await budget.text_content() or "")
        assert float(await budget.get_attribute("data-used-percent") or 0) > 0
        assert billed < 10_000, "shown with six decimals below a cent"
        assert f"$0.{billed:06d} of $2.00 (" in (await budget.inner_text())
        assert float(await budget.locator("meter").get_attribute("value") or 0) >= 0
        assert not await page.is_visible("[data-testid=no-budgets]")
    assert problems == []


async def test_stats_outage_shows_a_banner_and_polling_recovers(
    gateway: RunningGateway, browser: Browser
) -> None:
    refused = 0

    # The browser sees /stats fail twice (as during a gateway restart), then the real one.
    async def flaky_stats(route: Route) -> None:
        nonlocal refused
        if refused < 2:
            refused += 1
            await route.fulfill(status=503, json={"error": {"code": "unavailable"}})
        else:
            await route.continue_()

    async def intercept(page: Page) -> None:
        await page.route("**/stats", flaky_stats)

    async with open_dashboard(browser, gateway, before=intercept) as (page, problems):
        banner = page.locator("[data-testid=banner]")
        await banner.wait_for(state="visible")
        assert "HTTP 503" in (await banner.text_content() or "")
        await banner.wait_for(state="hidden")
        state = await dashboard_state(page)
        assert state["failures"] == 2 and state["polls"] >= 1
        assert await page.get_attribute("#kpi-calls", "data-value") == "0"
        assert await page.text_content("[data-testid=no-budgets]") == "No budgets configured."
        assert await page.locator("[data-testid=budget]").count() == 0
    # Chromium logs each refused poll itself; nothing else may fail.
    refusal = "console: Failed to load resource: the server responded with a status of 503"
    assert problems == [f"{refusal} (Service Unavailable)"] * 2


async def test_history_survives_a_reload_and_the_tenant_selector_filters(
    browser: Browser, tmp_path: Path
) -> None:
    """Charts come from the server: a reloaded page draws the same history at once, and
    choosing a tenant (kept in the address across a reload) cuts every figure to it. The
    agent runs an A/B test, whose variants the page lists."""
    config = tmp_path / "frugal.toml"
    config.write_text(VARIANTS_CONFIG.format(support=SUPPORT_AGENT_FILE))
    settings = with_keys(load_settings(FAST, config_file=config))
    context = await browser.new_context(extra_http_headers=bearer(ADMIN_KEY))
    try:
        async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
            # Without a session the variant is drawn at random, and each variant caches
            # apart: the repeated question goes in two sessions that draw the same variant.
            first, again = same_variant_sessions("ab", [("cheap", 1.0), ("strong", 1.0)])
            for key, question, session in (
                (ACME_KEY, "How do I reset my password?", first),
                (ACME_KEY, "Can I cancel my order?", None),
                (ACME_KEY, "How do I reset my password?", again),
                (BETA_KEY, "Where is my order?", None),
            ):
                body = {"message": question, "session_id": session}
                async with http.post(
                    f"{gw.base_url}/chat", json=body, headers=bearer(key)
                ) as response:
                    assert response.status == 200
            page = await context.new_page()
            await page.add_init_script(TRACK_CSP)
            await page.goto(f"{gw.base_url}/dashboard?interval={POLL_MS}")
            history_calls = (
                "window.__frugalDashboard.history.points.reduce((n, p) => n + p.calls, 0)"
            )
            await wait_until(page, f"window.__frugalDashboard.polls >= 1 && {history_calls} === 4")
            before = (await dashboard_state(page))["charts"]

            # A page loaded afresh (polling once a minute, so this is its first and only
            # poll) draws the whole history at once.
            await page.goto(f"{gw.base_url}/dashboard?interval=60000")
            await wait_until(page, "window.__frugalDashboard.polls >= 1")
            state = await dashboard_state(page)
            assert state["polls"] == 1
            assert sum(p["calls"] for p in state["history"]["points"]) == 4
            for name in ("spend", "buckets", "saved", "cache", "routes"):
                assert state["charts"][name]["max"] == pytest.approx(before[name]["max"]), name
                assert state["charts"][name]["series"] == before[name]["series"], name
            options = await page.eval_on_selector_all("#tenant option", "o => o.map(x => x.value)")
            assert options == ["", "acme", "beta"]
            variants = page.locator("#variant-rows tr")
            assert await page.is_visible("#variants") and await variants.count() == 2
            answered = sum(v["requests"] for v in state["stats"]["variants"])
            assert answered == 4 and {
                await v.get_attribute("data-variant") for v in await variants.all()
            } == {"ab/cheap", "ab/strong"}

            # One tenant: tiles, charts and savings follow the selector; the address keeps it.
            await page.select_option("#tenant", "acme")
            await wait_until(page, "(window.__frugalDashboard.history || {}).tenant === 'acme'")
            state = await dashboard_state(page)
            assert sum(p["calls"] for p in state["history"]["points"]) == 3
            assert state["stats"]["tenant"] == "acme" and state["stats"]["calls"] == 3
            assert await page.get_attribute("#kpi-calls", "data-value") == "3"
            assert await page.get_attribute("#kpi-exact", "data-value") == "1"
            assert "tenant=acme" in page.url
            await page.select_option("#window", "15m")
            await wait_until(page, "window.__frugalDashboard.history.window_s === 900")
            assert "window=15m" in page.url
            await page.reload()
            await wait_until(page, "window.__frugalDashboard.polls >= 1")
            assert await page.input_value("#tenant") == "acme"
            assert await page.input_value("#window") == "15m"
            state = await dashboard_state(page)
            assert (
                state["history"]["tenant"] == "acme" and state["charts"]["buckets"]["points"] == 15
            )
            assert await page.get_attribute("#kpi-calls", "data-value") == "3"
            assert await page.evaluate("window.__cspViolations") == []
    finally:
        await context.close()


def same_variant_sessions(agent: str, arms: list[tuple[str, float]]) -> tuple[str, str]:
    """Two session ids that `draw` gives the same variant of ``agent``."""
    first = "dash-s-0"
    wanted = draw(agent, first, arms)
    again = next(f"dash-s-{i}" for i in range(1, 100) if draw(agent, f"dash-s-{i}", arms) == wanted)
    return first, again
