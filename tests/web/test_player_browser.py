"""A viewer in Debian's Chromium watches a channel: real nginx-rtmp, ffmpeg and hls.js."""

import pytest

from tests.streaming import wait_for

pytestmark = [pytest.mark.streaming, pytest.mark.browser]


def player_state(page) -> str:
    return page.get_attribute("[data-state]", "data-state")


def video_time(page) -> float:
    return page.eval_on_selector("video", "video => video.currentTime")


def test_a_viewer_waits_on_the_offline_page_and_the_player_starts_by_itself(rtmp, alice, page):
    page.goto(f"{rtmp.http_url}/alice")
    assert player_state(page) == "offline"

    rtmp.publish(alice.channel.stream_key)
    page.wait_for_function(
        "() => document.querySelector('video') && document.querySelector('video').currentTime > 2",
        timeout=30_000,
    )
    first = video_time(page)
    page.wait_for_timeout(2_000)
    assert video_time(page) > first + 1
    assert player_state(page) == "playing"


def test_the_player_shows_the_end_of_a_broadcast_without_a_reload(rtmp, alice, page):
    publisher = rtmp.publish(alice.channel.stream_key)
    wait_for(lambda: rtmp.playlist_ready("alice"), timeout=15, message="the playlist")
    page.goto(f"{rtmp.http_url}/alice")
    page.wait_for_function(
        "() => document.querySelector('[data-state]').dataset.state === 'playing'",
        timeout=20_000,
    )
    publisher.terminate()
    page.wait_for_function(
        "() => ['reconnecting', 'ended', 'offline'].includes("
        "document.querySelector('[data-state]').dataset.state)",
        timeout=20_000,
    )
    page.wait_for_function(
        "() => ['ended', 'offline'].includes(document.querySelector('[data-state]').dataset.state)",
        timeout=30_000,
    )
