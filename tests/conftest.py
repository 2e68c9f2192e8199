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
