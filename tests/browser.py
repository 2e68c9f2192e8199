"""Debian's Chromium driven by Playwright (never a browser downloaded by a test tool)."""

import os
import tempfile

import pytest

CHROMIUM = os.getenv("ECHO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

# Playwright's sync API runs an event loop; Django's async-unsafe check must not fire.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(chromium):
    """A fresh page with its own cookies (a new browser context per test)."""
    chromium.clear_cookies()
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    yield page
    page.close()
