"""Headless Debian Chromium driven by Playwright, for the page tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Offline, nothing that phones home, no sandbox (the tests run as root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str:
    # Not skipped: `make test` installs chromium, so a missing browser is a broken setup.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the page tests need Debian's chromium (make chromium)")
    return str(CHROMIUM)


@asynccontextmanager
async def launch_chromium() -> AsyncIterator[Browser]:
    """Headless Chromium; playwright gives each launch a fresh temporary profile."""
    executable = chromium_executable()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()
