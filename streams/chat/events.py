"""What the chat sends: the JSON shape of messages and authors (the WebSocket protocol and
the REST API share it), and publishing events to a room through the channel layer.

Groups: ``chat.<channel id>`` reaches every connection in the room, ``chat.<channel
id>.u<user id>`` only that user's connections there. Each web-server process has one
subscriber per room (streams.chat.hub), not one per connection.
"""

import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from streams.chat.models import ChatMessage

log = logging.getLogger(__name__)

# Name colours, each at least 4.5:1 (WCAG AA) against every chat background of
# static/css/echo.css (--bg, --surface, --surface-2); tests/chat/test_events.py checks it.
PALETTE = [
    "#ff7a7a",
    "#ff9f43",
    "#f7c948",
    "#9be15d",
    "#4cd98b",
    "#3dd6c6",
    "#5ccfff",
    "#7fa8ff",
    "#b39dff",
    "#e08cff",
    "#ff85c0",
    "#d9b38c",
]


def color_of(username: str) -> str:
    # A digest, not hash(): the colour must be the same in every process and every day.
    digest = hashlib.sha256(username.encode()).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def author_data(user, badges: list[str]) -> dict:
    return {
        "name": user.username,
        "display_name": user.public_name,
        "color": color_of(user.username),
        "badges": badges,
    }


def message_data(message: ChatMessage, badges: list[str]) -> dict:
    return {
        "id": message.pk,
        "author": author_data(message.author, badges),
        "body": message.body,
        "sent_at": message.created_at.isoformat().replace("+00:00", "Z"),
    }


def room_group(channel_id: int) -> str:
    return f"chat.{channel_id}"


def user_group(channel_id: int, user_id: int) -> str:
    return f"chat.{channel_id}.u{user_id}"


def layer_message(events: list[dict], *, user_id: int | None = None) -> dict:
    return {"type": "chat.events", "events": events, "user": user_id}


async def apublish(channel_id: int, events: list[dict], *, user_id: int | None = None) -> None:
    """Send events to a room (or to one user's connections in it); raises if Redis is down."""
    group = room_group(channel_id) if user_id is None else user_group(channel_id, user_id)
    await get_channel_layer().group_send(group, layer_message(events, user_id=user_id))


def publish(channel_id: int, events: list[dict], *, user_id: int | None = None) -> bool:
    """apublish from synchronous code; False if it failed. Whatever it publishes is already
    in the database: a client that missed it fills the gap from the REST history."""
    try:
        async_to_sync(apublish)(channel_id, events, user_id=user_id)
    except Exception:
        log.warning("chat fan-out to channel %s failed", channel_id, exc_info=True)
        return False
    return True
