"""Clips, cut by the real worker from what is on disk: the FLV nginx is still writing
(live) or a replay's MP4, streams copied; limits per user; bad input refused, kept."""

import pytest
from django.contrib.messages import get_messages

from streams.replays import services
from streams.replays.models import Clip
from tests.replays.conftest import decodes_cleanly, probe, recording_of, replay_of
from tests.replays.test_recording import SMALL, broadcast_of, ranged
from tests.streaming import wait_for


def clip_ready(slug: str, worker) -> Clip:
    def ready():
        clip = Clip.objects.get(slug=slug)
        assert clip.status != Clip.Status.FAILED, clip.error
        return clip if clip.status == Clip.Status.READY else None

    try:
        return wait_for(ready, timeout=20, interval=0.05, message="the clip")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{worker.log()}") from None


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.streaming
def test_viewers_clip_a_live_stream_and_a_replay(rtmp, replay_worker, alice, bob, logged_in):
    viewer = logged_in(bob)
    publisher = rtmp.publish(alice.channel.stream_key, **SMALL)
    broadcast = broadcast_of(alice.channel)
    recording = recording_of(broadcast)
    wait_for(lambda: services.low_disk_reason() is None and probe_seconds(recording.path) > 8,
             timeout=20, interval=0.5, message="8 s recorded")  # fmt: skip

    # The channel page offers it while live; the last 6 s, as the viewer asked.
    assert b"Clip the last seconds" in viewer.get("/alice").content
    response = viewer.post("/alice/clip", {"title": "  That  jump ", "length": "6"})
    clip = Clip.objects.get()
    assert response.status_code == 302 and response["Location"] == clip.get_absolute_url()
    clip = clip_ready(clip.slug, replay_worker)
    assert clip.title == "That jump" and clip.created_by == bob and clip.replay is None
    assert 5 <= clip.duration <= 7.5
    video = services.replay_files(clip.token)[0]
    assert decodes_cleanly(video)
    assert {s["codec_name"] for s in probe(video)["streams"]} == {"h264", "aac"}
    # Its own page with a share link, listed on the channel page, served by nginx.
    status, page = rtmp.get(clip.get_absolute_url())
    assert status == 200 and f"/clips/{clip.slug}".encode() in page
    assert clip.get_absolute_url().encode() in rtmp.get("/alice")[1]
    assert ranged(rtmp, clip.video_url, 0, 99)[0] == 206

    publisher.terminate()
    replay = replay_of(broadcast, worker=replay_worker)
    # A span of the replay, through the API this time.
    client = logged_in(bob)
    response = client.post(
        "/api/channels/alice/clips/",
        {"title": "The end", "replay": replay.pk, "start": 2, "length": 5},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    clip = clip_ready(response.json()["slug"], replay_worker)
    assert clip.replay == replay and 4 <= clip.duration <= 6.5
    assert client.get(f"/api/clips/{clip.slug}/").json()["status"] == "ready"


def probe_seconds(path: str) -> float:
    try:
        return float(probe(path)["format"].get("duration", 0))
    except Exception:
        return 0.0


@pytest.mark.django_db
def test_bad_clip_requests_are_refused_with_a_reason_and_make_nothing(
    alice, bob, logged_in, go_live
):
    viewer = logged_in(bob)
    response = viewer.post("/alice/clip", {"title": "x", "length": "30"})
    assert any("offline" in text for text in said(response))
    # Live, but nothing recorded (recording off, or nginx not asked yet).
    go_live(alice)
    for form, reason in [
        ({"title": "x", "length": "100"}, "5 to 60 seconds"),
        ({"title": "x", "length": "4"}, "5 to 60 seconds"),
        ({"title": "x", "length": "ten"}, "numbers of seconds"),
        ({"title": "x", "length": "nan"}, "numbers of seconds"),
        ({"title": "   ", "length": "30"}, "Give the clip a title"),
        ({"title": "x", "length": "30"}, "not being recorded"),
    ]:
        response = viewer.post("/alice/clip", form)
        assert response.status_code == 302 and response["Location"] == "/alice"
        assert any(reason in text for text in said(response)), (form, said(response))
    response = logged_in(bob).post(
        "/api/channels/alice/clips/", {"title": "x", "length": 61}, content_type="application/json"
    )
    assert response.status_code == 400 and "length" in response.json()
    assert not Clip.objects.exists()
    # Anonymous viewers are sent to log in.
    from django.test import Client

    assert Client().post("/alice/clip", {"title": "x"})["Location"].startswith("/accounts/login")


@pytest.mark.django_db
def test_clips_are_rate_limited_per_user_on_the_page_and_the_api_together(
    alice, bob, charlie, logged_in, settings
):
    settings.ECHO_CLIP_RATE = "2/hour"
    viewer = logged_in(bob)
    for _ in range(2):
        response = viewer.post("/alice/clip", {"title": "x", "length": "30"})
        assert not any("too fast" in text for text in said(response))
    response = viewer.post("/alice/clip", {"title": "x", "length": "30"})
    assert any("too fast" in text for text in said(response))
    response = viewer.post(
        "/api/channels/alice/clips/", {"title": "x"}, content_type="application/json"
    )
    assert response.status_code == 429
    # Someone else is not held back by bob.
    response = logged_in(charlie).post("/alice/clip", {"title": "x", "length": "30"})
    assert not any("too fast" in text for text in said(response))


@pytest.mark.django_db
def test_a_refused_clip_form_comes_back_with_what_was_typed(alice, bob, logged_in, go_live):
    from streams.replays.models import Recording

    Recording.objects.create(broadcast=go_live(alice), path="/nowhere/alice-1.flv")
    viewer = logged_in(bob)
    response = viewer.post("/alice/clip", {"title": "My great moment", "length": "99"}, follow=True)
    page = response.content.decode()
    assert "5 to 60 seconds" in page
    assert 'value="My great moment"' in page and 'value="99"' in page
    # Shown once: the next visit has an empty form again.
    assert "My great moment" not in viewer.get("/alice").content.decode()


@pytest.mark.django_db
def test_with_redis_down_a_clip_fails_at_once_and_the_page_says_so(
    alice, bob, logged_in, go_live, redis_server, django_capture_on_commit_callbacks
):
    from streams.replays.models import Recording

    Recording.objects.create(broadcast=go_live(alice), path="/nowhere/alice-1.flv")
    redis_server.stop()
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(bob).post("/alice/clip", {"title": "x", "length": "30"})
    clip = Clip.objects.get()
    assert response.status_code == 302 and response["Location"] == clip.get_absolute_url()
    assert clip.status == Clip.Status.FAILED and "Redis" in clip.error
    page = logged_in(bob).get(clip.get_absolute_url()).content.decode()
    assert "could not be cut" in page
