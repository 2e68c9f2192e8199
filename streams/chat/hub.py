"""One hub per room per web-server process: the room's only subscriber to the channel layer
in this process, and the batcher that writes each batch to every local connection.

Why. A stock consumer gets one channel-layer message per chat message and sends one frame
per message per client, each dispatch costing a hop to a thread and back: about 5,000
deliveries/s per box (DESIGN.md, "Chat"). Here a room's events are collected for
FLUSH_SECONDS, encoded ONCE to a JSON array, and the same text goes to every local
connection: per client, one frame per flush, whatever the message rate.

Redis down. RedisPubSubChannelLayer's receiver logs errors and retries for ever, so the
hub cannot wait for its receive loop to fail: every PING_SECONDS it publishes a ping to
its own channel and expects it back. A failed publish, or no ping back within
PING_DEADLINE, closes every local connection of the room with 4503 (clients reconnect
with backoff and fill the gap from the REST history); the layer is flushed so that the
next hub starts on fresh Redis connections.
"""

import asyncio
import json
import logging
import time
import weakref

from channels.layers import get_channel_layer

from streams.chat import events

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
PING_SECONDS = 2.0
PING_DEADLINE = 6.0
REDIS_TIMEOUT = 3.0
CLOSE_UNAVAILABLE = 4503

# Per event loop (one per worker process; tests run one loop per test).
_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, RoomHub]]" = (
    weakref.WeakKeyDictionary()
)


class Unavailable(Exception):
    """The channel layer (Redis) cannot be reached."""


def _encode(items: list[dict]) -> str:
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


class RoomHub:
    def __init__(self, channel_id: int):
        self.channel_id = channel_id
        self.consumers: set = set()
        self.by_user: dict[int, set] = {}
        self.pending: list[dict] = []
        self.personal: dict[int, list[dict]] = {}
        self.wake = asyncio.Event()
        self.closed = False
        self.failed = False
        self.tasks: list[asyncio.Task] = []
        self.layer = get_channel_layer()
        self.channel_name = ""
        self.last_pong = time.monotonic()
        self.started = asyncio.ensure_future(self._start())

    async def _start(self) -> None:
        try:
            self.channel_name = await asyncio.wait_for(
                self.layer.new_channel(prefix="chat-hub."), REDIS_TIMEOUT
            )
            await asyncio.wait_for(
                self.layer.group_add(events.room_group(self.channel_id), self.channel_name),
                REDIS_TIMEOUT,
            )
        except Exception as error:
            await self._fail(error)
            raise Unavailable from error
        self.last_pong = time.monotonic()
        for loop in (self._receive, self._flush, self._ping):
            task = asyncio.ensure_future(loop())
            task.add_done_callback(self._task_done)
            self.tasks.append(task)

    # --- connections ---------------------------------------------------------------

    async def join(self, consumer) -> bool:
        """Register a connection; False if this hub stopped meanwhile (its last connection
        left: take a new one), Unavailable if the room cannot be subscribed to."""
        await asyncio.shield(self.started)
        if self.failed:
            raise Unavailable
        if self.closed:
            return False
        self.consumers.add(consumer)
        user_id = consumer.user_id
        if user_id is None:
            return True
        connections = self.by_user.setdefault(user_id, set())
        connections.add(consumer)
        if len(connections) == 1:
            group = events.user_group(self.channel_id, user_id)
            try:
                await asyncio.wait_for(
                    self.layer.group_add(group, self.channel_name), REDIS_TIMEOUT
                )
            except Exception as error:
                await self._fail(error)
                raise Unavailable from error
        return True

    async def leave(self, consumer) -> None:
        self.consumers.discard(consumer)
        user_id = consumer.user_id
        connections = self.by_user.get(user_id, set())
        connections.discard(consumer)
        if user_id is not None and not connections and not self.closed:
            self.by_user.pop(user_id, None)
            group = events.user_group(self.channel_id, user_id)
            try:
                await self.layer.group_discard(group, self.channel_name)
            except Exception:
                log.info("chat: unsubscribing %s failed", group, exc_info=True)
        if not self.consumers and not self.closed:
            await self._stop()

    # --- loops ---------------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            message = await self.layer.receive(self.channel_name)
            if message.get("type") == "chat.ping":
                self.last_pong = time.monotonic()
                continue
            user_id = message.get("user")
            if user_id is None:
                self.pending.extend(message["events"])
            else:
                self.personal.setdefault(user_id, []).extend(message["events"])
            self.wake.set()

    async def _flush(self) -> None:
        while True:
            await self.wake.wait()
            # Let the batch fill: one frame per client per flush, not one per message.
            await asyncio.sleep(FLUSH_SECONDS)
            self.wake.clear()
            pending, self.pending = self.pending, []
            personal, self.personal = self.personal, {}
            if pending:
                frame = _encode(pending)
                for consumer in list(self.consumers):
                    await consumer.deliver(frame)
            for user_id, items in personal.items():
                frame = _encode(items)
                for consumer in list(self.by_user.get(user_id, ())):
                    await consumer.deliver(frame)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            if time.monotonic() - self.last_pong > PING_DEADLINE:
                raise Unavailable("no ping came back")
            ping = self.layer.send(self.channel_name, {"type": "chat.ping"})
            await asyncio.wait_for(ping, REDIS_TIMEOUT)

    def _task_done(self, task: asyncio.Task) -> None:
        if task.cancelled() or self.closed:
            return
        asyncio.ensure_future(self._fail(task.exception()))

    # --- the end -------------------------------------------------------------------

    def _forget(self) -> None:
        self.closed = True
        hubs = _hubs.get(asyncio.get_running_loop(), {})
        if hubs.get(self.channel_id) is self:
            del hubs[self.channel_id]

    async def _stop(self) -> None:
        self._forget()
        for task in self.tasks:
            task.cancel()
        try:
            group = events.room_group(self.channel_id)
            await asyncio.wait_for(
                self.layer.group_discard(group, self.channel_name), REDIS_TIMEOUT
            )
        except Exception:
            log.info("chat: unsubscribing room %s failed", self.channel_id, exc_info=True)

    async def _fail(self, error: BaseException | None) -> None:
        if self.closed:
            return
        self.failed = True
        log.warning("chat room %s unavailable: %r", self.channel_id, error)
        self._forget()
        for task in self.tasks:
            task.cancel()
        for consumer in list(self.consumers):
            await consumer.close_unavailable()
        self.consumers.clear()
        self.by_user.clear()
        try:
            await asyncio.wait_for(self.layer.flush(), REDIS_TIMEOUT)
        except Exception:
            log.info("chat: flushing the channel layer failed", exc_info=True)


def hub_for(channel_id: int) -> RoomHub:
    """This process's hub for the room, started on first use."""
    hubs = _hubs.setdefault(asyncio.get_running_loop(), {})
    hub = hubs.get(channel_id)
    if hub is None:
        hub = hubs[channel_id] = RoomHub(channel_id)
    return hub
