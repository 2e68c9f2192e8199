"""Shared fixtures. Streaming fixtures (nginx, ffmpeg) live in tests/streaming.py,
the browser in tests/browser.py; both are registered here as plugins."""

import pytest

pytest_plugins = ["tests.browser", "tests.streaming"]


@pytest.fixture(autouse=True)
def _mail_outbox_and_fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
