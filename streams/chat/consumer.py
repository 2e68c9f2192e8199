"""The chat WebSocket, /ws/chat/<name>/ (name: the channel's public name).

Server to client, every text frame is a JSON array of events: first `welcome` (me,
can_send, cannot_send {code, message, until, reason}, is_moderator, settings, max_length) and
`history` (the last 50 messages), then `message`, `deleted` {ids}, `settings`, and the
personal `restriction` {kind: timeout|ban|lifted, until, reason}, `ack` {nonce, id} and
`error` {code, message, nonce, retry_after, until?, reason?}. Client to server, only
{"type": "send", "body": str, "nonce": str (<= 64)}; anything else is an `error` with
code malformed (the connection stays; 20 of them close it with 4400). Close codes: 4404
unknown channel; 4503 chat unavailable (Redis down) and 4408 (the client stopped reading
for SEND_TIMEOUT): reconnect with backoff and fill the gap from
GET /api/channels/<name>/chat/?after=<last id>. A message may arrive twice
around connecting (history and live): keep the first of each id.

Reading is open to everyone; sending goes through streams.chat.services.message_send.
Live events reach this connection through the room's hub (streams.chat.hub), never
through a channel-layer channel of its own.
"""

import asyncio
import json
import logging

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser

from streams.chat import events, selectors, services
from streams.chat.hub import CLOSE_UNAVAILABLE, Unavailable, hub_for
from streams.chat.models import MAX_MESSAGE_LENGTH
from streams.chat.services import ChatRefused
from streams.models import Channel

log = logging.getLogger(__name__)

MAX_FRAME = 8 * 1024
MAX_NONCE = 64
# A client sending this much garbage is broken or hostile: close it (4400).
MAX_MALFORMED = 20
CLOSE_UNKNOWN_CHANNEL = 4404
CLOSE_MALFORMED = 4400
CLOSE_TOO_SLOW = 4408
# A client that stops reading fills its socket buffer, then every send to it waits: past
# this it leaves the room (4408) instead of stalling the room's flush for everyone else.
SEND_TIMEOUT = 5.0


def _room(name: str) -> Channel | None:
    return Channel.objects.select_related("user").filter(user__username=name).first()


def _welcome(channel: Channel, user) -> list[dict]:
    settings = selectors.settings_of(channel)
    refusal = services.send_refusal(user=user, channel=channel, settings=settings)
    me = None
    if user.is_authenticated:
        me = events.author_data(user, selectors.badges_of(user, channel))
    welcome = {
        "type": "welcome",
        "channel": channel.name,
        "me": me,
        "can_send": refusal is None,
        "cannot_send": refusal.as_dict() if refusal else None,
        "is_moderator": selectors.is_moderator(user, channel),
        "settings": settings.as_dict(),
        "max_length": MAX_MESSAGE_LENGTH,
    }
    return [welcome, {"type": "history", "messages": selectors.message_list(channel)}]


def _send(channel: Channel, user, body: str) -> int:
    return services.message_send(channel=channel, user=user, body=body).pk


def _error(code: str, message: str, nonce: str | None = None, **extra) -> str:
    error = {"type": "error", "code": code, "message": message, "nonce": nonce}
    error.setdefault("retry_after", None)
    error.update(extra)
    return json.dumps([error])


class ChatConsumer(AsyncWebsocketConsumer):
    # An alias with no layer: Channels then gives this consumer no channel of its own
    # (one Redis subscription per connection); the room's hub receives for all of them.
    channel_layer_alias = "chat-none"

    async def dispatch(self, message: dict) -> None:
        # Channels 4.2+ runs aclose_old_connections() around every message here, a hop to
        # a thread and back: 42% of a worker's time in a busy room (DESIGN.md). Database
        # work goes through database_sync_to_async, which closes stale connections itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.hub = None
        self.ready = False
        self.early: list[str] = []
        self.malformed = 0
        self.user = self.scope.get("user") or AnonymousUser()
        self.user_id = self.user.pk if self.user.is_authenticated else None
        await self.accept()
        name = self.scope["url_route"]["kwargs"]["name"]
        self.room = await database_sync_to_async(_room)(name)
        if self.room is None:
            await self.close(CLOSE_UNKNOWN_CHANNEL)
            return
        try:
            # Join before reading the history, so nothing falls between the two (a client
            # may see a message twice: it keeps the first of each id).
            hub = hub_for(self.room.pk)
            while not await hub.join(self):
                hub = hub_for(self.room.pk)
            self.hub = hub
            first = await database_sync_to_async(_welcome)(self.room, self.user)
        except Unavailable:
            await self.close_unavailable()
            return
        await self.send(text_data=events_json(first))
        self.ready = True
        for frame in self.early:
            await self.send(text_data=frame)
        self.early = []

    async def deliver(self, frame: str) -> None:
        """A frame from the hub (the same text for every connection in the room)."""
        if not self.ready:
            self.early.append(frame)
            return
        if self.hub is None:
            return
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self.send(text_data=frame)
        except TimeoutError:
            log.info("chat: a client in %s stopped reading; dropped", self.room.name)
            hub, self.hub = self.hub, None
            asyncio.ensure_future(self._close_quietly(CLOSE_TOO_SLOW))
            await hub.leave(self)
        except Exception:
            # Gone meanwhile; its disconnect handler unregisters it.
            log.debug("chat: a frame to a closed connection", exc_info=True)

    async def _close_quietly(self, code: int) -> None:
        try:
            await self.close(code)
        except Exception:
            log.debug("chat: closing a closed connection", exc_info=True)

    async def close_unavailable(self) -> None:
        self.hub = None
        await self._close_quietly(CLOSE_UNAVAILABLE)

    async def disconnect(self, code: int) -> None:
        if self.hub is not None:
            await self.hub.leave(self)
            self.hub = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = _parse(text_data)
        if frame is None:
            self.malformed += 1
            await self.send(
                text_data=_error(
                    "malformed",
                    'Send JSON like {"type": "send", "body": "...", "nonce": "..."} (at most 8 KB).',
                )
            )
            if self.malformed >= MAX_MALFORMED:
                await self.close(CLOSE_MALFORMED)
            return
        body, nonce = frame
        if self.room is None or self.hub is None:
            return
        if not self.user.is_authenticated:
            await self.send(text_data=_error("login_required", "Log in to chat.", nonce))
            return
        try:
            message_id = await database_sync_to_async(_send)(self.room, self.user, body)
        except ChatRefused as refused:
            extra = {"retry_after": refused.retry_after}
            if refused.until:
                extra["until"] = refused.as_dict()["until"]
            if refused.reason:
                extra["reason"] = refused.reason
            await self.send(text_data=_error(refused.code, refused.message, nonce, **extra))
            return
        except Exception:
            log.exception("chat: sending to %s failed", self.room.name)
            await self.send(
                text_data=_error("unavailable", "Chat is unavailable; try again soon.", nonce)
            )
            return
        await self.send(text_data=events_json([{"type": "ack", "nonce": nonce, "id": message_id}]))


def events_json(items: list[dict]) -> str:
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def _parse(text_data: str | None) -> tuple[str, str] | None:
    """(body, nonce) of a well-formed send frame, else None."""
    if text_data is None or len(text_data) > MAX_FRAME:
        return None
    try:
        frame = json.loads(text_data)
    except ValueError:
        return None
    if not isinstance(frame, dict) or frame.get("type") != "send":
        return None
    body, nonce = frame.get("body"), frame.get("nonce")
    if not isinstance(body, str) or not isinstance(nonce, str) or len(nonce) > MAX_NONCE:
        return None
    return body, nonce
