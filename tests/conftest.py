"""Shared fixtures: the named users and categories every test file builds on, the way
healthchecks keeps one base case; clients logged in as them; the "no nginx" setting.
Streaming fixtures (nginx, ffmpeg) live in tests/streaming.py, the browser in
tests/browser.py; both are registered here as plugins.

Two rules for the whole suite live here too: a template that prints a missing variable
fails the test, and a skip that is not on ALLOWED_SKIPS fails the run."""

import os
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

pytest_plugins = [
    "tests.redis",
    "tests.browser",
    "tests.streaming",
    "tests.servers",
    "tests.callbacks",
]

# Skips CI accepts, by test node id without parameters, each with why. Any other skip
# fails the run: a skipped test proves nothing, and "1 skipped" is easy to miss.
ALLOWED_SKIPS: set[str] = {
    # Empty: every test runs on SQLite and on MariaDB alike (the database-outage test cuts
    # a TCP proxy on MariaDB). Add an entry only with the reason beside it.
}


# --- users, categories, broadcasts -------------------------------------------------


def _user(username: str, **fields):
    from accounts.models import User

    return User.objects.create_user(username, f"{username}@example.org", "password", **fields)


@pytest.fixture
def alice(db):
    """The streamer."""
    return _user("alice", display_name="Alice A.", bio="Parsers, live.")


@pytest.fixture
def bob(db):
    """A viewer, or a second streamer."""
    return _user("bob")


@pytest.fixture
def charlie(db):
    """An outsider."""
    return _user("charlie")


@pytest.fixture
def verified(db):
    """verified(user) -> user: with the confirmed e-mail address that sign-up's link
    leaves; allauth refuses a password login (and the API a token) without one."""
    from allauth.account.models import EmailAddress

    def verify(user):
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
        return user

    return verify


@pytest.fixture
def games(db):
    from streams.models import Category

    return Category.objects.create(name="Games", slug="games")


@pytest.fixture
def music(db):
    from streams.models import Category

    return Category.objects.create(name="Music", slug="music")


@pytest.fixture
def go_live(db):
    """go_live(user, minutes_ago=0, client_id="7"): an open broadcast, as on_publish makes
    it, without nginx. Tests of the publish path itself call services.broadcast_start."""
    from datetime import timedelta

    from django.utils import timezone

    from streams.models import Broadcast

    def start(user, *, minutes_ago: int = 0, client_id: str = "7") -> Broadcast:
        channel = user.channel
        started = timezone.now() - timedelta(minutes=minutes_ago)
        return Broadcast.objects.create(
            channel=channel,
            title=channel.title,
            category=channel.category,
            client_id=client_id,
            started_at=started,
            last_seen_at=started,
        )

    return start


@pytest.fixture
def no_nginx(settings):
    """No nginx to drop publishers through: a drop fails at once (nothing listens on port 9)."""
    settings.ECHO_NGINX_CONTROL_URL = "http://127.0.0.1:9"


# --- clients ---------------------------------------------------------------------


@pytest.fixture
def logged_in(db):
    """logged_in(user, **client_options): a new test client with user's session."""

    def log_in(user, **options) -> Client:
        client = Client(**options)
        client.force_login(user)
        return client

    return log_in


@pytest.fixture
def staff_client(db, logged_in):
    """A client logged in as a superuser, for Django admin."""
    from accounts.models import User

    return logged_in(User.objects.create_superuser("staffer", "staff@example.org", "password"))


@pytest.fixture
def plain_static_storage(settings):
    # Pages link static files; the manifest storage would need collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- templates fail on a missing variable ------------------------------------------


class MissingVariables(str):
    """string_if_invalid for tests. Django formats it with the variable's name ("%s")
    wherever it would print a variable that does not resolve, and only there: {% if %}
    and {% for %} see None, so `{% if broadcast %}` on a falsy value still works. Each
    name is recorded; the test fails at teardown. Recording instead of scanning responses
    also catches pages rendered for the browser by the live server thread, and e-mails."""

    def __new__(cls):
        instance = super().__new__(cls, "[missing template variable %s]")
        instance.names = []
        return instance

    def __mod__(self, name) -> str:
        self.names.append(str(name))
        return str.__mod__(self, name)


MISSING_VARIABLES = MissingVariables()


@pytest.fixture(autouse=True)
def _templates_print_no_missing_variable():
    MISSING_VARIABLES.names.clear()
    yield
    if MISSING_VARIABLES.names:
        names = ", ".join(sorted(set(MISSING_VARIABLES.names)))
        MISSING_VARIABLES.names.clear()
        pytest.fail(f"a template printed a variable that does not exist: {names}")


# --- skips must be on the allow-list -----------------------------------------------


class SkipGuard:
    """Collects skips whose test is not in `allowed`; they turn a passing run into a
    failing one. Deselected tests (-k, -m) are not run, so they are no skips."""

    def __init__(self, allowed):
        self.allowed = set(allowed)
        self.unlisted = []

    def _check(self, report) -> None:
        # An xfail is reported as skipped too; it is not a skip.
        if report.skipped and not hasattr(report, "wasxfail"):
            if report.nodeid.partition("[")[0] not in self.allowed:
                self.unlisted.append(report)

    def pytest_collectreport(self, report) -> None:
        self._check(report)  # pytest.skip(allow_module_level=True), importorskip

    def pytest_runtest_logreport(self, report) -> None:
        self._check(report)

    def pytest_sessionfinish(self, session) -> None:
        if self.unlisted and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.unlisted:
            return
        terminalreporter.section("skips not on ALLOWED_SKIPS in tests/conftest.py", red=True)
        for report in self.unlisted:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            terminalreporter.line(f"{report.nodeid}: {reason}", red=True)


def pytest_configure(config) -> None:
    config.pluginmanager.register(SkipGuard(ALLOWED_SKIPS), "echo-skip-guard")
    # Set before the first template is rendered: the engines are built once.
    settings.TEMPLATES[0]["OPTIONS"]["string_if_invalid"] = MISSING_VARIABLES
    # whitenoise warns on every request when STATIC_ROOT is missing (no collectstatic yet).
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        # A file, not :memory:, so that a separate Django process (gunicorn in the
        # restart tests) sees the test data. One per run: runs may overlap.
        database.setdefault("TEST", {})["NAME"] = os.path.join(
            tempfile.gettempdir(), f"echo-test-{os.getpid()}.sqlite3"
        )
