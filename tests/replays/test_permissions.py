"""Who sees and changes what: hidden replays are 404 for others (page, file, API), a
banned channel's replays are listed nowhere, the owner renames/hides/deletes, staff
remove any, deleting removes the files."""

import pytest
from django.test import Client
from django.utils import timezone

from streams import services as core
from streams.replays import services
from streams.replays.models import Clip, Recording, Replay

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def replay(settings, tmp_path, go_live, alice):
    """A ready replay with its two files (contents beside the point here)."""
    settings.ECHO_REPLAYS_PATH = tmp_path / "replays"
    settings.ECHO_REPLAYS_PATH.mkdir()
    broadcast = go_live(alice, minutes_ago=10)
    broadcast.title = "Parsers live"
    broadcast.ended_at = timezone.now()
    broadcast.save()
    Recording.objects.create(broadcast=broadcast, path="", status=Recording.Status.DONE)
    replay = Replay.objects.create(
        broadcast=broadcast,
        channel=alice.channel,
        title=broadcast.title,
        status=Replay.Status.READY,
        duration=600,
    )
    for path in services.replay_files(replay.token):
        path.write_bytes(b"x" * 100)
    return replay


def sees(client: Client, replay: Replay) -> dict[str, int]:
    return {
        "page": client.get(replay.get_absolute_url()).status_code,
        "file": client.get(replay.video_url).status_code,
        "api": client.get(f"/api/replays/{replay.pk}/").status_code,
        "listed": int(
            replay.video_url in client.get("/api/channels/alice/replays/").content.decode()
        ),
        "on channel page": int(replay.get_absolute_url() in client.get("/alice").content.decode()),
    }


VISIBLE = {"page": 200, "file": 200, "api": 200, "listed": 1, "on channel page": 1}
GONE = {"page": 404, "file": 404, "api": 404, "listed": 0, "on channel page": 0}


def test_a_replay_is_public_and_its_file_goes_through_nginx(replay, plain_static_storage):
    response = Client().get(replay.video_url)
    assert response["X-Accel-Redirect"] == f"/_replay_files/{replay.token}.mp4"
    assert response.content == b""  # Django never sends the bytes
    assert sees(Client(), replay) == VISIBLE


def test_a_hidden_replay_is_404_for_others_and_visible_to_its_owner(
    replay, alice, bob, logged_in, staff_client, plain_static_storage
):
    owner = logged_in(alice)
    response = owner.post(replay.get_absolute_url() + "/edit", {"hidden": "1"})
    assert response.status_code == 302
    replay.refresh_from_db()
    assert replay.hidden
    assert sees(Client(), replay) == GONE
    assert sees(logged_in(bob), replay) == GONE
    assert sees(owner, replay) == VISIBLE
    assert sees(staff_client, replay)["page"] == 200


def test_a_banned_channels_replays_are_not_listed(
    replay, alice, bob, logged_in, plain_static_storage
):
    core.channel_ban(channel=alice.channel)
    assert sees(logged_in(bob), replay) == GONE
    core.channel_unban(channel=alice.channel)
    assert sees(logged_in(bob), replay) == VISIBLE


def test_the_owner_renames_and_deletes_with_the_files(
    replay, alice, logged_in, plain_static_storage
):
    owner = logged_in(alice)
    owner.post(replay.get_absolute_url() + "/edit", {"title": "  Better title "})
    replay.refresh_from_db()
    assert replay.title == "Better title"
    response = owner.post(replay.get_absolute_url() + "/edit", {"title": "x" * 141})
    replay.refresh_from_db()
    assert replay.title == "Better title"  # too long: refused, nothing lost
    # Without the confirmation nothing goes.
    owner.post(replay.get_absolute_url() + "/delete", {})
    assert Replay.objects.filter(pk=replay.pk).exists()
    response = owner.post(replay.get_absolute_url() + "/delete", {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == "/alice"
    assert not Replay.objects.exists()
    assert not any(path.exists() for path in services.replay_files(replay.token))


def test_others_cannot_change_a_replay_and_staff_can_remove_any(
    replay, bob, logged_in, staff_client, plain_static_storage
):
    other = logged_in(bob)
    assert other.post(replay.get_absolute_url() + "/edit", {"hidden": "1"}).status_code == 404
    assert other.post(replay.get_absolute_url() + "/delete", {"confirm": "yes"}).status_code == 404
    assert (
        other.patch(
            f"/api/replays/{replay.pk}/", {"hidden": True}, content_type="application/json"
        ).status_code
        == 403
    )
    assert other.delete(f"/api/replays/{replay.pk}/").status_code == 403
    replay.refresh_from_db()
    assert not replay.hidden
    # Staff may remove (not rename or hide: that is the streamer's).
    assert (
        staff_client.patch(
            f"/api/replays/{replay.pk}/", {"title": "x"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert staff_client.delete(f"/api/replays/{replay.pk}/").status_code == 204
    assert not any(path.exists() for path in services.replay_files(replay.token))


def test_the_owner_hides_through_the_api(replay, alice, logged_in):
    owner = logged_in(alice)
    response = owner.patch(
        f"/api/replays/{replay.pk}/",
        {"hidden": True, "title": "Renamed"},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["hidden"] is True
    assert Client().get(f"/api/replays/{replay.pk}/").status_code == 404
    response = owner.patch(
        f"/api/replays/{replay.pk}/", {"title": "x" * 141}, content_type="application/json"
    )
    assert response.status_code == 400
    replay.refresh_from_db()
    assert replay.title == "Renamed"


def test_a_processing_replay_is_the_owners_only_and_its_file_404(replay, alice, bob, logged_in):
    Replay.objects.filter(pk=replay.pk).update(status=Replay.Status.PROCESSING)
    assert logged_in(bob).get(replay.get_absolute_url()).status_code == 404
    owner = logged_in(alice)
    assert owner.get(replay.get_absolute_url()).status_code == 200
    assert owner.get(replay.video_url).status_code == 404


def test_a_clip_of_a_hidden_replay_is_hidden_too(replay, alice, bob, logged_in):
    clip = Clip.objects.create(
        channel=alice.channel,
        broadcast=replay.broadcast,
        replay=replay,
        created_by=bob,
        title="moment",
        start=1,
        length=5,
        status=Clip.Status.READY,
    )
    assert Client().get(clip.get_absolute_url()).status_code == 200
    services.replay_update(replay=replay, hidden=True)
    assert Client().get(clip.get_absolute_url()).status_code == 404
    assert Client().get(clip.video_url).status_code == 404
    assert logged_in(bob).get(clip.get_absolute_url()).status_code == 200  # its maker
