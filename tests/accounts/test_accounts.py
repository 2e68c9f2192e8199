"""Accounts: sign-up with mandatory e-mail verification, log in/out, passwords, profile."""

import re
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import User
from streams.models import Channel

PASSWORD = "correct-horse-battery"  # for sign-ups; conftest's users have "password"
NEW_PASSWORD = "another-staple-lantern"
FORMAT_MESSAGE = "Use 3-25 characters: lowercase letters, digits, underscores (_) and hyphens (-)."


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    # allauth counts attempts in Django's cache; a test must not inherit another's.
    cache.clear()
    yield
    cache.clear()


def sign_up(client, username: str = "alice", email: str = "alice@example.com"):
    return client.post(
        reverse("account_signup"),
        {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD},
    )


def log_in(client, login: str, password: str = "password"):
    return client.post(reverse("account_login"), {"login": login, "password": password})


def link_in(message, path_prefix: str) -> str:
    """The path of the first link in an e-mail that starts with path_prefix."""
    for url in re.findall(r"https?://\S+", message.body):
        if urlsplit(url).path.startswith(path_prefix):
            return urlsplit(url).path
    raise AssertionError(f"no {path_prefix} link in:\n{message.body}")


def logged_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


# Sign-up and e-mail verification


@pytest.mark.django_db
def test_it_signs_up_a_user_with_a_channel_and_mails_a_verification_link(client, mailoutbox):
    response = sign_up(client)
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")

    user = User.objects.get(username="alice")
    assert user.email == "alice@example.com"
    assert Channel.objects.filter(user=user).exists()
    assert not EmailAddress.objects.get(user=user).verified
    assert logged_in_user_id(client) is None
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["alice@example.com"]
    assert link_in(mailoutbox[0], "/accounts/confirm-email/")


@pytest.mark.django_db
def test_it_tells_the_new_user_to_check_their_email(client):
    response = sign_up(client)
    response = client.get(response.url)
    assert response.status_code == 200
    assert b"Check your e-mail" in response.content


@pytest.mark.django_db
def test_the_verification_link_logs_the_user_in_and_lands_on_welcome(client, mailoutbox):
    sign_up(client)
    link = link_in(mailoutbox[0], "/accounts/confirm-email/")

    response = client.get(link)
    assert response.status_code == 200
    assert b"alice@example.com" in response.content

    response = client.post(link)
    assert response.status_code == 302
    assert response.url == reverse("accounts:welcome")
    user = User.objects.get(username="alice")
    assert logged_in_user_id(client) == str(user.pk)
    assert EmailAddress.objects.get(user=user).verified

    response = client.get(response.url)
    assert response.status_code == 200
    assert b"Welcome to echo.tv, alice!" in response.content
    assert reverse("streams:dashboard").encode() in response.content
    assert reverse("streams:channel", args=["alice"]).encode() in response.content


@pytest.mark.django_db
def test_the_welcome_page_greets_the_user_by_display_name(client, alice):
    alice.display_name = "Alice in Streamland"
    alice.save()
    client.force_login(alice)

    response = client.get(reverse("accounts:welcome"))
    assert response.status_code == 200
    assert b"Welcome to echo.tv, Alice in Streamland!" in response.content


@pytest.mark.django_db
def test_a_verification_link_opened_in_another_browser_verifies_but_does_not_log_in(
    client, mailoutbox
):
    sign_up(client)
    link = link_in(mailoutbox[0], "/accounts/confirm-email/")
    other_browser = Client()

    response = other_browser.post(link)
    assert response.status_code == 302
    assert response.url == reverse("account_login")
    assert logged_in_user_id(other_browser) is None
    assert EmailAddress.objects.get(email="alice@example.com").verified


@pytest.mark.django_db
def test_it_rejects_an_invalid_verification_link(client):
    response = client.get(reverse("account_confirm_email", args=["not-a-key"]))
    assert response.status_code == 200
    assert b"expired or is invalid" in response.content


# Usernames


@pytest.mark.django_db
def test_it_lowercases_a_username_typed_with_capitals(client):
    response = sign_up(client, username="Alice")
    assert response.status_code == 302

    # Compared in Python: MariaDB's collation would match "Alice" to "alice" itself.
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["admin", "api", "hls", "static", "dashboard", "Admin"])
def test_it_rejects_reserved_username(client, username):
    response = sign_up(client, username=username)
    assert response.status_code == 200

    assert f"The name {username.lower()} is reserved. Please choose another." in (
        response.content.decode()
    )
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("al", "Ensure this value has at least 3 characters (it has 2)."),
        ("a" * 26, "Ensure this value has at most 25 characters (it has 26)."),
        ("al ice", FORMAT_MESSAGE),
        ("al.ice", FORMAT_MESSAGE),
        ("alice@home", FORMAT_MESSAGE),
        ("alicé", FORMAT_MESSAGE),
        ("ａｌｉｃｅ", FORMAT_MESSAGE),
    ],
)
def test_it_rejects_invalid_username(client, username, message):
    response = sign_up(client, username=username)
    assert response.status_code == 200

    assert message in response.content.decode().replace("&#x27;", "'")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_it_rejects_a_username_that_differs_only_in_case(client, alice):
    response = sign_up(client, username="ALICE", email="other@example.com")
    assert response.status_code == 200

    assert b"A user with that username already exists." in response.content
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_the_signup_form_labels_its_fields(client):
    response = client.get(reverse("account_signup"))
    assert response.status_code == 200

    html = response.content.decode()
    for field in ["username", "email", "password1", "password2"]:
        assert f'<label for="id_{field}">' in html


# Logging in and out


@pytest.mark.django_db
def test_it_logs_in_by_username(client, alice, verified):
    verified(alice)
    response = log_in(client, "alice")
    assert response.status_code == 302

    assert response.url == reverse("streams:dashboard")
    assert logged_in_user_id(client) == str(alice.pk)


@pytest.mark.django_db
def test_it_logs_in_by_username_typed_with_capitals(client, alice, verified):
    verified(alice)
    response = log_in(client, "Alice")
    assert response.status_code == 302

    assert logged_in_user_id(client) == str(alice.pk)


@pytest.mark.django_db
def test_it_logs_in_by_email(client, alice, verified):
    verified(alice)
    response = log_in(client, "alice@example.org")
    assert response.status_code == 302

    assert response.url == reverse("streams:dashboard")
    assert logged_in_user_id(client) == str(alice.pk)


@pytest.mark.django_db
def test_it_rejects_a_wrong_password(client, alice):
    response = log_in(client, "alice", "not-my-password")
    assert response.status_code == 200

    assert b"The username and/or password you specified are not correct." in response.content
    assert logged_in_user_id(client) is None


@pytest.mark.django_db
def test_it_refuses_login_before_verification(client, bob, mailoutbox):
    # Signed up, but never followed the verification link.
    EmailAddress.objects.create(user=bob, email=bob.email, primary=True, verified=False)

    response = log_in(client, "bob")
    assert response.status_code == 302

    assert response.url == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None
    # A fresh link, in case the first one got lost.
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["bob@example.org"]


@pytest.mark.django_db
def test_it_rate_limits_failed_logins(client, alice):
    # ACCOUNT_RATE_LIMITS allows 5 failures per 5 minutes for one login.
    for _ in range(5):
        response = log_in(client, "alice", "guess")
        assert b"The username and/or password" in response.content

    response = log_in(client, "alice")
    assert response.status_code == 200

    assert b"Too many failed login attempts. Try again later." in response.content
    assert logged_in_user_id(client) is None


@pytest.mark.django_db
def test_it_logs_out_on_post(client, alice):
    client.force_login(alice)

    response = client.post(reverse("account_logout"))
    assert response.status_code == 302

    assert response.url == "/"
    assert logged_in_user_id(client) is None


@pytest.mark.django_db
def test_it_asks_before_logging_out_on_get(client, alice):
    client.force_login(alice)

    response = client.get(reverse("account_logout"))
    assert response.status_code == 200

    assert b"Are you sure you want to log out?" in response.content
    assert logged_in_user_id(client) == str(alice.pk)


# Passwords


@pytest.mark.django_db
def test_it_resets_a_forgotten_password(client, alice, mailoutbox, verified):
    verified(alice)
    response = client.post(reverse("account_reset_password"), {"email": "alice@example.org"})
    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_done")
    assert len(mailoutbox) == 1
    link = link_in(mailoutbox[0], "/accounts/password/reset/key/")

    # allauth moves the key from the URL into the session, then shows the form.
    response = client.get(link, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_from_key_done")

    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    log_in(client, "alice", NEW_PASSWORD)
    assert logged_in_user_id(client) == str(alice.pk)


@pytest.mark.django_db
def test_a_password_reset_link_works_only_once(client, alice, mailoutbox):
    client.post(reverse("account_reset_password"), {"email": "alice@example.org"})
    link = link_in(mailoutbox[0], "/accounts/password/reset/key/")
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    response = client.get(link, follow=True)
    assert response.status_code == 200

    assert b"This password reset link is invalid" in response.content


@pytest.mark.django_db
def test_it_changes_the_password(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "password", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302

    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert logged_in_user_id(client) == str(alice.pk)


@pytest.mark.django_db
def test_it_refuses_a_password_change_without_the_current_password(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "wrong", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 200

    assert b"Please type your current password." in response.content
    alice.refresh_from_db()
    assert alice.check_password("password")


# Profile


@pytest.mark.django_db
def test_it_edits_the_profile(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("accounts:profile"), {"display_name": "Alice L.", "bio": "Speedruns, mostly."}
    )
    assert response.status_code == 302

    alice.refresh_from_db()
    assert alice.display_name == "Alice L."
    assert alice.bio == "Speedruns, mostly."


@pytest.mark.django_db
def test_the_profile_page_links_to_password_and_email_settings(client, alice):
    client.force_login(alice)

    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 200

    assert reverse("account_change_password").encode() in response.content
    assert reverse("account_email").encode() in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "length", "limit"), [("display_name", 51, 50), ("bio", 301, 300)]
)
def test_it_rejects_profile_fields_over_their_max_length(client, alice, field, length, limit):
    before = getattr(alice, field)
    client.force_login(alice)

    response = client.post(reverse("accounts:profile"), {field: "x" * length})
    assert response.status_code == 200

    assert f"Ensure this value has at most {limit} characters" in response.content.decode()
    alice.refresh_from_db()
    assert getattr(alice, field) == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["accounts:profile", "accounts:welcome", "account_email"])
def test_account_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302

    assert response.url.startswith(reverse("account_login"))


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["account_login", "account_signup", "account_reset_password"])
def test_anonymous_account_pages_render(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["account_change_password", "account_email", "accounts:profile"])
def test_logged_in_account_pages_render(client, alice, name):
    client.force_login(alice)

    response = client.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.django_db
def test_allauth_pages_without_an_override_use_the_site_layout(client, alice):
    client.force_login(alice)

    response = client.get(reverse("account_reauthenticate"))
    assert response.status_code == 200

    html = response.content.decode()
    assert 'class="topbar"' in html
    assert re.search(r"<title>\s*Confirm Access\s*· echo.tv</title>", html)
