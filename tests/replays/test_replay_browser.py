"""A viewer in Debian's Chromium seeks in a replay: nginx answers ranges (206), playback
resumes at the new position, and the broadcast's chat follows the player."""

from datetime import timedelta

import pytest

from streams.chat.models import ChatMessage
from streams.replays import selectors
from tests.replays.conftest import recording_of, replay_of
from tests.replays.test_recording import SMALL, broadcast_of

pytestmark = [pytest.mark.streaming, pytest.mark.browser]


def test_a_viewer_seeks_anywhere_in_a_replay_and_the_chat_follows(
    rtmp, replay_worker, alice, bob, page
):
    publisher = rtmp.publish(alice.channel.stream_key, duration=10, **SMALL)
    broadcast = broadcast_of(alice.channel)
    recording_of(broadcast)
    assert publisher.wait(timeout=30) == 0
    replay = replay_of(broadcast, worker=replay_worker)
    zero = selectors.replay_zero(replay)
    ChatMessage.objects.create(
        channel=alice.channel,
        broadcast=broadcast,
        author=bob,
        body="at six seconds",
        created_at=zero + timedelta(seconds=6),
    )

    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if ".mp4" in r.url else None)
    page.goto(rtmp.http_url + replay.get_absolute_url())
    page.wait_for_function("() => document.querySelector('#replay-video').readyState >= 1")
    for target in (7.5, 2.0, 5.0, 8.5):
        page.eval_on_selector(
            "#replay-video", f"v => {{ v.muted = true; v.currentTime = {target}; v.play(); }}"
        )
        page.wait_for_function(
            f"() => {{ const v = document.querySelector('#replay-video');"
            f" return !v.seeking && !v.paused && v.currentTime > {target} + 0.2; }}",
            timeout=10_000,
        )
        shown = page.get_attribute("#replay-chat-log", "data-shown")
        assert shown == ("1" if target >= 6 else "0"), (target, shown)
    assert 206 in statuses and not [s for s in statuses if s >= 400]
    assert "at six seconds" in page.inner_text("#replay-chat-log")
