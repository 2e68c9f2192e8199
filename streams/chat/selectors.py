"""Reads the consumer, the REST API and the services share: who may moderate, badges,
settings, and the history of a room."""

from allauth.account.models import EmailAddress

from streams.chat import events
from streams.chat.models import ChatMessage, ChatModerator, ChatSettings
from streams.models import Channel

HISTORY_LENGTH = 50
# Gap filling after a reconnect (?after=<id>) returns at most this many.
GAP_LIMIT = 500


def settings_of(channel: Channel) -> ChatSettings:
    """The channel's chat settings; defaults (unsaved) until someone changes them."""
    try:
        return ChatSettings.objects.get(channel=channel)
    except ChatSettings.DoesNotExist:
        return ChatSettings(channel=channel)


def is_moderator(user, channel: Channel) -> bool:
    """Whether the user may moderate this room: its streamer, its moderators, staff."""
    if not user.is_authenticated:
        return False
    if user.is_staff or channel.user_id == user.pk:
        return True
    return ChatModerator.objects.filter(channel=channel, user=user).exists()


def badges_of(user, channel: Channel, *, moderator_ids: set[int] | None = None) -> list[str]:
    if moderator_ids is None:
        moderator_ids = set(
            ChatModerator.objects.filter(channel=channel, user=user).values_list(
                "user_id", flat=True
            )
        )
    badges = []
    if channel.user_id == user.pk:
        badges.append("streamer")
    if user.pk in moderator_ids:
        badges.append("moderator")
    if user.is_staff:
        badges.append("staff")
    return badges


def is_verified(user) -> bool:
    return EmailAddress.objects.filter(user=user, verified=True).exists()


def message_list(channel: Channel, *, after: int | None = None) -> list[dict]:
    """The last HISTORY_LENGTH messages not deleted, oldest first; with `after`, up to
    GAP_LIMIT messages after that id instead."""
    visible = ChatMessage.objects.filter(channel=channel, deleted_at__isnull=True).select_related(
        "author"
    )
    if after is None:
        messages = list(visible.order_by("-id")[:HISTORY_LENGTH])[::-1]
    else:
        messages = list(visible.filter(id__gt=after).order_by("id")[:GAP_LIMIT])
    moderator_ids = set(
        ChatModerator.objects.filter(channel=channel).values_list("user_id", flat=True)
    )
    return [
        events.message_data(m, badges_of(m.author, channel, moderator_ids=moderator_ids))
        for m in messages
    ]
