"""Titles, categories and profile text are escaped everywhere they appear in a browser."""

import pytest

from streams import services
from streams.models import Category

pytestmark = [pytest.mark.browser]

PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


@pytest.fixture
def hostile_live_channel(transactional_db, no_nginx, alice):
    alice.display_name, alice.bio = PAYLOAD[:50], PAYLOAD
    alice.save()
    category = Category.objects.create(name=PAYLOAD[:60], slug="hostile")
    alice.channel.title = PAYLOAD[:140]
    alice.channel.category = category
    alice.channel.save()
    services.broadcast_start(key=alice.channel.stream_key, client_id="1")
    return alice


@pytest.mark.parametrize("path", ["/", "/alice", "/alice/status.json"])
def test_hostile_text_is_shown_not_run(live_server, page, hostile_live_channel, path):
    page.goto(live_server.url + path)
    page.wait_for_timeout(1_500)  # let the player poll and update the page
    assert page.evaluate("window.__xss") is None
    if path != "/alice/status.json":
        assert "<img src=x" in page.inner_text("body")
