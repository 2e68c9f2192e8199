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


@pytest.mark.parametrize("path", ["/", "/alice/status.json"])
def test_hostile_text_is_shown_not_run(live_server, page, hostile_live_channel, path):
    page.goto(live_server.url + path)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__xss") is None
    if path != "/alice/status.json":
        assert "<img src=x" in page.inner_text("body")


def test_hostile_text_from_the_players_status_update_is_shown_not_run(
    live_server, page, hostile_live_channel
):
    page.goto(live_server.url + "/alice")
    assert page.evaluate("window.__xss") is None
    # New hostile text after the page was rendered: only the status poll can bring it.
    updated = '<img src=y onerror="window.__xss=2">now<b>bold</b>'
    channel = hostile_live_channel.channel
    channel.title = updated
    channel.save()
    channel.category.name = updated
    channel.category.save()
    with page.expect_response(lambda r: r.url.endswith("/alice/status.json"), timeout=15_000):
        pass
    page.wait_for_function(
        "text => document.querySelector('[data-channel-title]').textContent === text",
        arg=updated,
        timeout=10_000,
    )
    assert page.text_content("[data-channel-category]") == updated
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=y], [data-channel-title] b").count() == 0
