"""Viewer features end to end: real nginx-rtmp, ffmpeg publishing, Django live, Chromium viewers."""

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from streams import services
from streams.models import Follow
from streams.social import viewers
from tests.streaming import wait_for

pytestmark = [pytest.mark.streaming, pytest.mark.browser]


@pytest.fixture(autouse=True)
def _fresh_viewer_limits():
    # Every browser reaches Django from 127.0.0.1 through nginx: one client address.
    viewers.forget_all()


def log_in(context, user: User, rtmp) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": rtmp.http_url}])


def watch(context, rtmp, path: str = "/alice"):
    page = context.new_page()
    page.add_init_script("window.echoViewerBeatMs = 1000")
    page.goto(rtmp.http_url + path)
    page.wait_for_function(
        "() => document.querySelector('[data-state]').dataset.state === 'playing'",
        timeout=20_000,
    )
    return page


def viewer_count_reads(page, text: str) -> None:
    page.wait_for_function(
        "text => document.querySelector('[data-viewer-count]').textContent.trim() === text",
        arg=text,
        timeout=10_000,
    )


def test_a_second_viewer_raises_the_count_and_leaving_lowers_it(rtmp, alice, chromium, page):
    rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=15, message="the playlist")
    first = watch(page.context, rtmp)
    viewer_count_reads(first, "1 viewer")

    second_context = chromium.new_context()
    try:
        second = watch(second_context, rtmp)
        viewer_count_reads(first, "2 viewers")
        viewer_count_reads(second, "2 viewers")
        # nginx's next on_update (every 10 s) folds the count into the broadcast's peak.
        peak_at = alice.channel.broadcasts.get().last_seen_at
        broadcast = wait_for(
            lambda: alice.channel.broadcasts.filter(last_seen_at__gt=peak_at).first(),
            timeout=25,
            message="a heartbeat while two watch",
        )
        assert broadcast.peak_viewers == 2

        second.goto("about:blank")  # the tab leaves: its goodbye lowers the count at once
        viewer_count_reads(first, "1 viewer")
    finally:
        second_context.close()

    # A later heartbeat, with one viewer, keeps the peak.
    left_at = broadcast.last_seen_at
    broadcast = wait_for(
        lambda: alice.channel.broadcasts.filter(last_seen_at__gt=left_at).first(),
        timeout=25,
        message="a heartbeat after the second viewer left",
    )
    assert broadcast.peak_viewers == 2


def test_the_directory_shows_a_live_thumbnail_that_goes_away_with_the_broadcast(rtmp, alice, page):
    publisher = rtmp.publish(alice.channel.stream_key)
    thumbnail = rtmp.thumbs_dir / "alice.jpg"
    wait_for(thumbnail.exists, timeout=25, message="the first thumbnail")

    page.goto(rtmp.http_url + "/")
    image = page.locator('a[href="/alice"] img.channel-card-thumb')
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 320", arg=image.element_handle()
    )
    status, body = rtmp.get("/thumbs/alice.jpg")
    assert status == 200 and body[:2] == b"\xff\xd8"  # a JPEG

    publisher.terminate()
    publisher.wait(timeout=10)
    wait_for(lambda: not thumbnail.exists(), timeout=10, message="the thumbnail removed")
    assert rtmp.get("/thumbs/alice.jpg")[0] == 404


def test_a_follower_gets_an_email_when_the_channel_goes_live(rtmp, alice, bob, page, settings):
    settings.SITE_URL = rtmp.http_url
    log_in(page.context, bob, rtmp)
    page.goto(rtmp.http_url + "/alice")
    page.get_by_role("button", name="Follow").click()
    page.get_by_role("button", name="Unfollow").wait_for()
    assert Follow.objects.filter(user=bob, channel=alice.channel).exists()

    rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: alice.channel.live_broadcast, timeout=10, message="on_publish")
    assert mail.outbox == []  # never from inside nginx's on_publish
    services.broadcasts_reconcile()  # what the reconcile loop runs every 5 s
    services.broadcasts_reconcile()

    [message] = mail.outbox
    assert message.to == ["bob@example.org"]
    assert message.subject == "Alice A. is live on echo.tv"
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")

    # The link works without a login: a fresh browser, one click.
    page.context.clear_cookies()
    page.goto(unsubscribe)
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="Unsubscribed").wait_for()
    assert not Follow.objects.get(user=bob).notify_by_email
