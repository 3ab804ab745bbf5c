"""The ``/docs`` reference page in headless Chromium: it renders every operation of
``/openapi.json`` under the strict CSP, with no script error and nothing fetched elsewhere."""

from __future__ import annotations

import anyio
import pytest
from playwright.async_api import ConsoleMessage, Page

from server.config import load_settings
from server.openapi import OPERATIONS
from tests.support.browser import launch_chromium
from tests.support.gateway import run_gateway

pytestmark = pytest.mark.anyio


async def wait_until(page: Page, expression: str) -> None:
    # Polled from here: the page's CSP refuses the eval behind `wait_for_function`.
    with anyio.fail_after(30):
        while not await page.evaluate(expression):
            await anyio.sleep(0.05)


async def test_docs_page_renders_every_operation() -> None:
    async with run_gateway(load_settings({})) as gateway, launch_chromium() as browser:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            problems: list[str] = []
            origins: set[str] = set()

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    problems.append(message.text)

            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("console", on_console)
            page.on("request", lambda request: origins.add(request.url.split("/")[2]))
            await page.goto(f"{gateway.base_url}/docs")
            await wait_until(page, "document.querySelectorAll('details.op').length > 0")
            rendered = await page.evaluate(
                "[...document.querySelectorAll('details.op')].map((d) => d.id)"
            )
            await page.click("details.op#post_v1_chat_completions > summary")
            text = await page.inner_text("details.op#post_v1_chat_completions")
        finally:
            await context.close()
    assert problems == []
    assert origins == {gateway.base_url.split("/")[2]}
    assert len(rendered) == len(OPERATIONS)
    assert "messages" in text and "other fields allowed" in text
    assert "400 Bad Request. OpenAI's error shape." in text
    assert "Example" in text
