"""Follows through the API: /api/channels/<name>/follow/ and /api/me/following/."""

from streams.models import Follow
from streams.social import services as social_services
from tests.api.clients import names, with_session, with_token


def test_following_requires_authentication(anonymous, bob):
    for method in ("get", "post", "patch", "delete"):
        response = getattr(anonymous, method)("/api/channels/bob/follow/")
        assert response.status_code == 401, method
    assert anonymous.get("/api/me/following/").status_code == 401
    assert not Follow.objects.exists()


def test_a_user_follows_a_channel_once(alice, bob):
    client = with_token(alice)

    response = client.post("/api/channels/bob/follow/")
    again = client.post("/api/channels/bob/follow/")

    assert response.status_code == 201
    data = response.json()
    assert data["name"] == "bob"
    assert data["follower_count"] == 1
    assert data["notify_by_email"] is True
    assert data["followed_at"]
    assert again.status_code == 200
    assert again.json()["follower_count"] == 1
    assert Follow.objects.get().user == alice


def test_a_user_cannot_follow_their_own_channel(alice):
    response = with_session(alice).post("/api/channels/alice/follow/")

    assert response.status_code == 400
    assert "your own channel" in response.json()["detail"]
    assert not Follow.objects.exists()


def test_following_an_unknown_channel_is_404(alice):
    response = with_session(alice).post("/api/channels/nobody/follow/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No Channel matches the given query."}


def test_get_follow_says_whether_the_user_follows(alice, bob):
    client = with_session(alice)

    before = client.get("/api/channels/bob/follow/")
    social_services.channel_follow(user=alice, channel=bob.channel)
    after = client.get("/api/channels/bob/follow/")

    assert before.status_code == 404
    assert before.json() == {"detail": "You don't follow bob."}
    assert after.status_code == 200
    assert after.json()["name"] == "bob"


def test_patch_follow_turns_go_live_emails_off(alice, bob, charlie):
    social_services.channel_follow(user=alice, channel=bob.channel)
    client = with_session(alice)

    response = client.patch("/api/channels/bob/follow/", {"notify_by_email": False}, format="json")
    invalid = client.patch("/api/channels/bob/follow/", {}, format="json")
    not_following = client.patch(
        "/api/channels/charlie/follow/", {"notify_by_email": False}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["notify_by_email"] is False
    assert Follow.objects.get(user=alice).notify_by_email is False
    assert invalid.status_code == 400
    assert invalid.json() == {"notify_by_email": ["This field is required."]}
    assert not_following.status_code == 404


def test_a_user_unfollows_a_channel(alice, bob, charlie):
    social_services.channel_follow(user=alice, channel=bob.channel)
    social_services.channel_follow(user=charlie, channel=bob.channel)
    client = with_token(alice)

    response = client.delete("/api/channels/bob/follow/")
    again = client.delete("/api/channels/bob/follow/")

    assert response.status_code == 204
    assert again.status_code == 204
    # charlie still follows.
    assert list(Follow.objects.values_list("user__username", flat=True)) == ["charlie"]


def test_channels_show_their_follower_count(anonymous, alice, bob, charlie, go_live):
    social_services.channel_follow(user=alice, channel=bob.channel)
    social_services.channel_follow(user=charlie, channel=bob.channel)
    go_live(bob)

    assert anonymous.get("/api/channels/bob/").json()["follower_count"] == 2
    assert anonymous.get("/api/channels/live/").json()["results"][0]["follower_count"] == 2
    assert anonymous.get("/api/channels/alice/").json()["follower_count"] == 0


def test_followed_channels_list_live_ones_first(alice, bob, charlie, go_live):
    social_services.channel_follow(user=alice, channel=bob.channel)
    social_services.channel_follow(user=alice, channel=charlie.channel)
    social_services.channel_follow(user=charlie, channel=bob.channel)
    go_live(charlie)

    response = with_token(alice).get("/api/me/following/")

    assert response.status_code == 200
    assert names(response) == ["charlie", "bob"]
    charlie_data, bob_data = response.json()["results"]
    assert charlie_data["live"] is True and bob_data["live"] is False
    # All of bob's followers, not only the user asking.
    assert bob_data["follower_count"] == 2
    assert names(with_token(bob).get("/api/me/following/")) == []
