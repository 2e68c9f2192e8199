"""Who is watching: viewer counts from player heartbeats, without a database write per beat.

Design. A player that is actually playing POSTs a heartbeat every 15-20 s with a random
per-tab viewer id. Presence is in Redis, which every web server shares: per channel a
sorted set ``echo:viewers:<name>`` of ``<client>-<viewer id>`` scored by the time of the
viewer's last heartbeat, and the count is a ZCOUNT over the last ``VIEWER_TIMEOUT``
seconds. Times are Redis's own clock (TIME inside the scripts), so web servers with
skewed clocks still agree. A closed tab says goodbye (a keep-alive request on
``pagehide``); a crashed one stops counting after ``VIEWER_TIMEOUT``. Memory is bounded:
every heartbeat trims its channel's stale members and every key expires
``VIEWER_TIMEOUT`` after its last heartbeat.

Abuse. The heartbeat needs no login and no CSRF token (it changes nothing but a
count), so it is bounded instead: the viewer id must be 32 lowercase hex digits; one
client address counts at most ``MAX_VIEWERS_PER_CLIENT`` times per channel (a busy
NAT still counts, a script inventing ids does not: a per-client set decides, in the
same script); and a client address may send ``HEARTBEATS_PER_MINUTE`` requests in a
fixed window opened by its first (``heartbeat_allowed``), counted in Redis for all web
servers together.

Redis down. Heartbeats still answer (nothing is recorded, the limit fails open) and
counts are ``None``: pages and the API show no count instead of failing.

Peak viewers reach the database on nginx's on_update heartbeat (every 10 s per
broadcast, ``services.broadcast_heartbeat``), which writes the broadcast row anyway.
"""

import hashlib
import re
import threading
import time
from collections.abc import Iterable

from accounts.validators import USERNAME_PATTERN
from echo import redis as echo_redis
from echo.redis import UNAVAILABLE, report_unavailable
from streams.models import Broadcast

# Players beat every 15-20 s: three missed beats and the viewer is gone.
VIEWER_TIMEOUT = 45
MAX_VIEWERS_PER_CLIENT = 20
HEARTBEATS_PER_MINUTE = 120
# Which channels are live, asked of the database at most this often per process...
LIVE_CACHE_SECONDS = 5.0
# ...or this often when a heartbeat names a channel not yet known to be live.
LIVE_RECHECK_SECONDS = 1.0

VIEWER_ID = re.compile(r"[0-9a-f]{32}\Z")
CHANNEL_NAME = re.compile(USERNAME_PATTERN)
CONSEQUENCE = "viewer heartbeats are not recorded and counts are unknown"

# KEYS: the channel's set, the client's set in it. ARGV: viewer id, member, timeout, cap.
# 1 if counted, 0 if the client already has `cap` other viewers on the channel.
SEEN = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local oldest = now - tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. oldest)
if not redis.call('ZSCORE', KEYS[2], ARGV[1])
   and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. oldest)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
# KEYS: channels' sets. ARGV: timeout. Each channel's viewers seen within the timeout.
COUNT = """
local now = redis.call('TIME')
local oldest = tonumber(now[1]) + tonumber(now[2]) / 1000000 - tonumber(ARGV[1])
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('ZCOUNT', key, oldest, '+inf')
end
return counts
"""
# KEYS: the client's heartbeat counter. A fixed one-minute window from its first request.
HEARTBEAT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], 60) end
return count
"""

_lock = threading.Lock()
_live: tuple[float, frozenset[str]] = (0.0, frozenset())


def _client_tag(client: str) -> str:
    # Addresses are not kept in clear in Redis; 12 hex digits keep clients apart.
    return hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def channel_key(name: str) -> str:
    return f"echo:viewers:{name}"


def _run(script: str, *, keys: list[str], args: list) -> object:
    redis = echo_redis.client()
    return redis.register_script(script)(keys=keys, args=args, client=redis)


def _check(name: str, viewer_id: str) -> None:
    if not CHANNEL_NAME.match(name) or not VIEWER_ID.match(viewer_id):
        raise ValueError("invalid channel name or viewer id")


def viewer_seen(name: str, *, viewer_id: str, client: str) -> None:
    """Record a heartbeat (nothing, if Redis does not answer)."""
    _check(name, viewer_id)
    tag = _client_tag(client)
    keys = [channel_key(name), f"{channel_key(name)}:client:{tag}"]
    args = [viewer_id, f"{tag}-{viewer_id}", VIEWER_TIMEOUT, MAX_VIEWERS_PER_CLIENT]
    try:
        _run(SEEN, keys=keys, args=args)
    except UNAVAILABLE as exc:
        report_unavailable(exc, consequence=CONSEQUENCE)


def viewer_left(name: str, *, viewer_id: str, client: str) -> None:
    _check(name, viewer_id)
    tag = _client_tag(client)
    try:
        with echo_redis.client().pipeline() as pipe:
            pipe.zrem(channel_key(name), f"{tag}-{viewer_id}")
            pipe.zrem(f"{channel_key(name)}:client:{tag}", viewer_id)
            pipe.execute()
    except UNAVAILABLE as exc:
        report_unavailable(exc, consequence=CONSEQUENCE)


def viewer_counts(names: Iterable[str]) -> dict[str, int | None]:
    """Players watching each channel now, in one round trip; None for all if Redis does
    not answer (unknown, not zero)."""
    names = list(dict.fromkeys(names))
    valid = [name for name in names if CHANNEL_NAME.match(name)]
    counts: dict[str, int | None] = dict.fromkeys(names, 0)
    if not valid:
        return counts
    try:
        found = _run(COUNT, keys=[channel_key(name) for name in valid], args=[VIEWER_TIMEOUT])
    except UNAVAILABLE as exc:
        report_unavailable(exc, consequence=CONSEQUENCE)
        return dict.fromkeys(names, None)
    counts.update(zip(valid, (int(count) for count in found), strict=True))
    return counts


def viewer_count(name: str) -> int | None:
    """Players watching the channel now; None if Redis does not answer."""
    return viewer_counts([name])[name]


def heartbeat_allowed(client: str) -> bool:
    """HEARTBEATS_PER_MINUTE requests per client address in a fixed one-minute window,
    shared by every web server; allowed when Redis does not answer (nothing is recorded
    then anyway)."""
    try:
        count = _run(HEARTBEAT, keys=[f"echo:heartbeats:{_client_tag(client)}"], args=[])
    except UNAVAILABLE as exc:
        report_unavailable(exc, consequence=CONSEQUENCE)
        return True
    return int(count) <= HEARTBEATS_PER_MINUTE


def channel_is_live(name: str) -> bool:
    """Is the channel live? One query per process every few seconds, not one per heartbeat.

    Per process on purpose: it is a copy of the database at most LIVE_CACHE_SECONDS old,
    and a heartbeat for a broadcast that just ended costs at most one stale count."""
    global _live
    now = time.monotonic()
    with _lock:
        asked_at, names = _live
    if name in names and now - asked_at < LIVE_CACHE_SECONDS:
        return True
    if name not in names and now - asked_at < LIVE_RECHECK_SECONDS:
        return False
    live = Broadcast.objects.filter(ended_at__isnull=True)
    names = frozenset(live.values_list("channel__user__username", flat=True))
    with _lock:
        _live = (now, names)
    return name in names


def forget_all() -> None:
    """Drop this process's live-channel cache (tests switch databases under it)."""
    global _live
    with _lock:
        _live = (0.0, frozenset())
