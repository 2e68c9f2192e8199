"""Debian's Chromium driven by Playwright (never a browser downloaded by a test tool)."""

import os

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

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_context(chromium):
    """A new browser context per test: its own cookies, storage and cache."""
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    return browser_context.new_page()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items) -> None:
    """Browser tests run last (after pytest-django's own ordering, which it keeps): once the
    session's Chromium is up, Playwright's sync API keeps an asyncio loop running in the
    main thread, and asgiref's async_to_sync (the chat consumer's tests) refuses to run
    under it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
