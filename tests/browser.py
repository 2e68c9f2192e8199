"""Debian's Chromium driven by Playwright (never a browser downloaded by a test tool)."""

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

# From this file, not Django's settings: the benches import this module before Django is set up.
AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
# Moderate, but fixed once: two unnamed search landmarks on the search page.
FAILING_RULES = ("landmark-unique",)

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


@contextlib.contextmanager
def off_the_browser_loop():
    """Between two calls, Playwright's sync API leaves its event loop marked as running on
    the test's thread, and asgiref's async_to_sync then refuses to run there ("You cannot
    use AsyncToSync in the same thread as an async event loop"): chat's fan-out
    (streams.chat.events.publish) would fail quietly. Nothing runs on that loop while the
    test's own code runs, so the test may step out of it for a while."""
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


@pytest.fixture(autouse=True)
def _tests_without_a_browser_see_no_browser_loop(request):
    # The session's browser outlives the test that started it.
    if "chromium" in request.fixturenames:
        yield
        return
    with off_the_browser_loop():
        yield


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


def serious_findings(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line per
    rule and one per element it was found on."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    findings = []
    for violation in results["violations"]:
        if violation["impact"] not in FAILING_IMPACTS and violation["id"] not in FAILING_RULES:
            continue
        findings.append(f"{violation['impact']} {violation['id']}: {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join(node["failureSummary"].split())
            findings.append(f"    {' '.join(node['target'])}\n        {summary}")
    return findings
