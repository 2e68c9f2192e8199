"""Chat moderation in Django admin: through streams.chat.services, change permission only."""

import pytest
from django.contrib.auth.models import Permission

from accounts.models import User
from streams.chat import selectors, services
from streams.chat.models import ChatMessage, ChatRestriction, ChatSettings


def action(client, model: str, name: str, pk: int):
    return client.post(
        f"/admin/streams/{model}/", {"action": name, "_selected_action": [pk]}, follow=True
    )


@pytest.fixture
def message(room, talker) -> ChatMessage:
    return ChatMessage.objects.create(channel=room, author=talker, body="rude")


def staff_with(client, *codenames: str):
    user = User.objects.create_user("moderator", "mod@example.org", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_staff_delete_and_undelete_messages(staff_client, message, room):
    page = staff_client.get("/admin/streams/chatmessage/?q=rude").content.decode()
    assert "rude" in page and 'value="delete_selected"' not in page

    action(staff_client, "chatmessage", "delete_for_everyone", message.pk)
    message.refresh_from_db()
    assert message.deleted_at is not None
    assert selectors.message_list(room) == []

    action(staff_client, "chatmessage", "undelete", message.pk)
    message.refresh_from_db()
    assert message.deleted_at is None


def test_staff_lift_a_restriction(staff_client, room, talker, alice):
    restriction = services.restriction_create(channel=room, user=talker, kind="ban", by=alice)

    action(staff_client, "chatrestriction", "lift", restriction.pk)

    restriction.refresh_from_db()
    assert restriction.lifted_at is not None


def test_view_only_staff_cannot_moderate_even_with_a_forged_post(
    client, message, room, talker, alice
):
    viewer = staff_with(client, "view_chatmessage", "view_chatrestriction")
    restriction = services.restriction_create(
        channel=room, user=talker, kind="timeout", seconds=60, by=alice
    )
    ChatMessage.objects.filter(pk=message.pk).update(deleted_at=None)

    page = viewer.get("/admin/streams/chatmessage/").content.decode()
    action(viewer, "chatmessage", "delete_for_everyone", message.pk)
    action(viewer, "chatrestriction", "lift", restriction.pk)

    assert 'value="delete_for_everyone"' not in page
    message.refresh_from_db()
    restriction.refresh_from_db()
    assert message.deleted_at is None and restriction.lifted_at is None


def test_settings_saved_in_the_admin_go_through_the_service(staff_client, room):
    response = staff_client.post(
        "/admin/streams/chatsettings/add/",
        {"channel": room.pk, "slow_mode_seconds": 15, "links_allowed": "on"},
        follow=True,
    )

    assert response.status_code == 200
    settings = ChatSettings.objects.get(channel=room)
    assert (settings.slow_mode_seconds, settings.links_allowed) == (15, True)
    assert ChatRestriction.objects.count() == 0


def test_the_admin_refuses_a_slow_mode_over_two_minutes(staff_client, room):
    response = staff_client.post(
        "/admin/streams/chatsettings/add/", {"channel": room.pk, "slow_mode_seconds": 121}
    )

    assert response.status_code == 200
    assert "less than or equal to 120" in response.content.decode()
    assert not ChatSettings.objects.exists()
