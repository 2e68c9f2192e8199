"""Chat fixtures: alice streams, bob and charlie are verified viewers (users come from
tests/conftest.py); Redis is the session's private one (tests/redis.py)."""

import pytest

from streams.models import Channel


@pytest.fixture
def room(alice) -> Channel:
    return alice.channel


@pytest.fixture
def talker(bob, verified):
    """bob, with a confirmed e-mail address: allowed to chat."""
    return verified(bob)


@pytest.fixture
def other_talker(charlie, verified):
    return verified(charlie)


@pytest.fixture
def staff(db, verified):
    from accounts.models import User

    return verified(User.objects.create_user("stella", "stella@example.org", "pw", is_staff=True))
