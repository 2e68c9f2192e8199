"""Following channels, the Following lists, and the go-live e-mail with its unsubscribe link."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import User
from streams import services
from streams.models import Broadcast, Follow
from streams.social import emails
from streams.social import services as social_services
from tests.callbacks import publish


@pytest.fixture(autouse=True)
def _callbacks_and_mail_links(settings, callbacks_from_nginx):
    settings.SITE_URL = "https://echo.example"


def end(broadcast: Broadcast, *, minutes_ago: int = 0) -> None:
    ended = timezone.now() - timedelta(minutes=minutes_ago)
    Broadcast.objects.filter(pk=broadcast.pk).update(ended_at=ended)


def follow(user: User, channel_owner: User) -> Follow:
    return social_services.channel_follow(user=user, channel=channel_owner.channel)


# --- follow and unfollow ---------------------------------------------------------


def test_bob_follows_alice(alice, bob, logged_in):
    response = logged_in(bob).post("/alice/follow")

    assert response.status_code == 302
    assert response["Location"] == "/alice"
    assert Follow.objects.filter(user=bob, channel=alice.channel, notify_by_email=True).exists()


def test_following_twice_keeps_one_follow(alice, bob, logged_in):
    client = logged_in(bob)

    client.post("/alice/follow")
    response = client.post("/alice/follow")

    assert response.status_code == 302
    assert Follow.objects.filter(user=bob).count() == 1


def test_following_needs_a_login(client, alice):
    response = client.post("/alice/follow")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Follow.objects.exists()


def test_following_needs_a_post_with_a_csrf_token(alice, bob, logged_in):
    client = logged_in(bob, enforce_csrf_checks=True)

    assert client.get("/alice/follow").status_code == 405
    assert client.post("/alice/follow").status_code == 403
    assert not Follow.objects.exists()


def test_alice_cannot_follow_herself(alice, logged_in):
    response = logged_in(alice).post("/alice/follow", follow=True)

    assert response.status_code == 200
    assert "can’t follow your own channel" in response.content.decode()
    assert not Follow.objects.exists()


def test_following_an_unknown_channel_is_404(bob, logged_in):
    response = logged_in(bob).post("/nobody/follow")

    assert response.status_code == 404


def test_bob_unfollows_alice(alice, bob, logged_in):
    follow(bob, alice)

    response = logged_in(bob).post("/alice/unfollow")

    assert response.status_code == 302
    assert not Follow.objects.exists()


def test_the_button_returns_to_a_local_page_only(alice, bob, logged_in):
    client = logged_in(bob)

    local = client.post("/alice/follow", {"next": "/following/"})
    foreign = client.post("/alice/unfollow", {"next": "https://evil.example/"})

    assert local["Location"] == "/following/"
    assert foreign["Location"] == "/alice"


def test_bob_turns_go_live_emails_off_and_on(alice, bob, logged_in):
    follow(bob, alice)
    client = logged_in(bob)

    client.post("/alice/follow/emails", {"notify": "off"})
    assert not Follow.objects.get(user=bob).notify_by_email

    client.post("/alice/follow/emails", {"notify": "on"})
    assert Follow.objects.get(user=bob).notify_by_email


# --- lists ---------------------------------------------------------------------


def test_the_following_page_lists_live_channels_first(alice, bob, charlie, go_live, logged_in):
    follow(bob, alice)
    follow(bob, charlie)
    end(go_live(alice, minutes_ago=90), minutes_ago=60)
    go_live(charlie)

    response = logged_in(bob).get("/following/")

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index('href="/charlie"') < page.index('href="/alice"')
    assert "Last live 1" in page  # "1 hour ago"


def test_the_following_page_needs_a_login(client):
    response = client.get("/following/")

    assert response.status_code == 302


def test_the_directory_shows_the_following_section_to_followers_only(client, alice, bob, logged_in):
    follow(bob, alice)

    followers_view = logged_in(bob).get("/").content.decode()
    anonymous_view = client.get("/").content.decode()

    assert "Following" in followers_view and 'href="/alice"' in followers_view
    assert 'id="following-heading"' not in anonymous_view


# --- the go-live e-mail ------------------------------------------------------------


def test_followers_get_one_email_when_the_channel_goes_live(alice, bob, charlie, go_live):
    follow(bob, alice)
    broadcast = go_live(alice)

    sent = social_services.broadcasts_notify_followers()
    again = social_services.broadcasts_notify_followers()

    assert (sent, again) == (1, 0)
    [message] = mail.outbox
    assert message.to == ["bob@example.org"]
    assert message.subject == "Alice A. is live on echo.tv"
    assert "https://echo.example/alice" in message.body
    broadcast.refresh_from_db()
    assert broadcast.followers_notified_at is not None


def test_the_email_carries_a_one_click_unsubscribe_link(alice, bob, go_live):
    follow(bob, alice)
    go_live(alice)

    social_services.broadcasts_notify_followers()

    [message] = mail.outbox
    link = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://echo.example/alice/unsubscribe/")
    assert link in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_publishing_sends_no_email_until_the_reconcile_loop_runs(client, alice, bob):
    follow(bob, alice)

    response = publish(client, alice.channel.stream_key)

    assert response.status_code == 302
    assert mail.outbox == []
    services.broadcasts_reconcile()
    assert [message.to for message in mail.outbox] == [["bob@example.org"]]


def test_a_reconnect_soon_after_the_last_broadcast_mails_nobody(alice, bob, go_live):
    follow(bob, alice)
    end(go_live(alice, minutes_ago=30), minutes_ago=2)
    go_live(alice)

    assert social_services.broadcasts_notify_followers() == 0
    assert mail.outbox == []


def test_a_broadcast_found_long_after_it_started_mails_nobody(alice, bob, go_live):
    follow(bob, alice)
    go_live(alice, minutes_ago=60)

    assert social_services.broadcasts_notify_followers() == 0


def test_no_email_to_followers_who_turned_it_off_or_left(alice, bob, charlie, go_live):
    follow(bob, alice)
    follow(charlie, alice)
    social_services.follow_set_notify(user_id=bob.pk, channel_id=alice.channel.pk, notify=False)
    User.objects.filter(pk=charlie.pk).update(is_active=False)
    go_live(alice)

    assert social_services.broadcasts_notify_followers() == 0


def test_a_failing_mail_server_does_not_break_reconciliation(alice, bob, settings, go_live):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # refused
    follow(bob, alice)
    broadcast = go_live(alice)

    assert services.broadcasts_reconcile() == 0
    broadcast.refresh_from_db()
    assert broadcast.followers_notified_at is not None  # at most once: not retried


# --- unsubscribe -------------------------------------------------------------------


def unsubscribe_path(user: User, channel_owner: User) -> str:
    token = emails.unsubscribe_token(user_id=user.pk, channel_id=channel_owner.channel.pk)
    return f"/{channel_owner.username}/unsubscribe/{token}"


def test_opening_the_unsubscribe_link_only_asks(client, alice, bob):
    follow(bob, alice)

    response = client.get(unsubscribe_path(bob, alice))

    assert response.status_code == 200
    assert "Stop e-mails about Alice A.?" in response.content.decode()
    assert Follow.objects.get(user=bob).notify_by_email


def test_one_click_unsubscribes_without_a_login_or_csrf_token(alice, bob):
    follow(bob, alice)

    response = Client(enforce_csrf_checks=True).post(unsubscribe_path(bob, alice))

    assert response.status_code == 200
    assert "Unsubscribed" in response.content.decode()
    follow_row = Follow.objects.get(user=bob)
    assert not follow_row.notify_by_email  # still following


def test_a_mail_clients_one_click_post_unsubscribes(client, alice, bob):
    follow(bob, alice)

    response = client.post(
        unsubscribe_path(bob, alice),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert not Follow.objects.get(user=bob).notify_by_email


def test_a_tampered_or_misplaced_token_unsubscribes_nobody(client, alice, bob, charlie):
    follow(bob, alice)
    follow(bob, charlie)
    good = unsubscribe_path(bob, alice)

    tampered = client.post(good[:-1] + ("A" if good[-1] != "A" else "B"))
    elsewhere = client.post(good.replace("/alice/", "/charlie/"))

    assert (tampered.status_code, elsewhere.status_code) == (404, 404)
    assert Follow.objects.filter(user=bob, notify_by_email=True).count() == 2


def test_unsubscribing_after_unfollowing_says_so(client, alice, bob):
    follow(bob, alice)
    path = unsubscribe_path(bob, alice)
    social_services.channel_unfollow(user=bob, channel=alice.channel)

    response = client.post(path)

    assert response.status_code == 200
    assert "don’t follow Alice A. any more" in response.content.decode()
