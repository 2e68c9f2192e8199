"""A new user signs up, verifies, logs out and in again, in Debian's Chromium."""

import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()
    yield
    cache.clear()


def verification_link(mailoutbox) -> str:
    assert len(mailoutbox) == 1, "expected exactly one verification e-mail"
    match = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mailoutbox[0].body)
    assert match, mailoutbox[0].body
    return match.group(0)


def test_a_new_user_signs_up_verifies_and_logs_in_again(live_server, page, mailoutbox):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Username").fill("Alice")
    page.get_by_label("E-mail").fill("alice@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    page.goto(verification_link(mailoutbox))
    expect(page.get_by_text("alice@example.com")).to_be_visible()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{live_server.url}/accounts/welcome/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to echo.tv, alice!")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/accounts/profile/")
    page.wait_for_url(re.compile(r"/accounts/login/"))

    page.get_by_label("Username or e-mail").fill("alice@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/profile/$"))
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    expect(page.locator("main")).to_contain_text("alice")
