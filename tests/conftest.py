"""Shared fixtures. Streaming fixtures (nginx, ffmpeg) live in tests/streaming.py,
the browser in tests/browser.py; both are registered here as plugins."""

import os
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

pytest_plugins = ["tests.browser", "tests.streaming"]


@pytest.fixture(autouse=True)
def _mail_outbox_and_fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    from accounts.models import User

    return User.objects.create_user(
        "alice", "alice@example.org", "password", display_name="Alice A.", bio="Parsers, live."
    )


@pytest.fixture
def bob(db):
    from accounts.models import User

    return User.objects.create_user("bob", "bob@example.org", "password")


@pytest.fixture
def charlie(db):
    from accounts.models import User

    return User.objects.create_user("charlie", "charlie@example.org", "password")


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
    """go_live(user, minutes_ago=0, client_id="7"): an open broadcast, as on_publish makes it."""
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


def pytest_configure(config) -> None:
    # whitenoise warns on every request when STATIC_ROOT is missing (no collectstatic yet).
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        # A file, not :memory:, so that a separate Django process (gunicorn in the
        # restart tests) sees the test data. One per run: runs may overlap.
        database.setdefault("TEST", {})["NAME"] = os.path.join(
            tempfile.gettempdir(), f"echo-test-{os.getpid()}.sqlite3"
        )
