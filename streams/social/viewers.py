"""Who is watching: viewer counts from player heartbeats, without a database write per beat.

Design. A player that is actually playing POSTs a heartbeat every 15-20 s with a random
per-tab viewer id. Each heartbeat touches one empty *presence file*,
``<ECHO_VIEWERS_PATH>/<channel name>/<client>-<viewer id>``: creating it or bumping its mtime
is a single metadata write to the filesystem (put the directory on a tmpfs such as
/run in production and it never reaches a disk). Every gunicorn worker sees the same
directory, so counts are shared with no new service and no database row per viewer.

Counting is ``os.scandir`` over the channel's directory: files touched within
``VIEWER_TIMEOUT`` are viewers, older ones are deleted on the way. A closed tab says
goodbye (a keep-alive request on ``pagehide``); a crashed one stops counting after
``VIEWER_TIMEOUT``. Counts are cached per process for ``COUNT_CACHE_SECONDS``, so
thousands of pollers cost one scan per channel per worker every few seconds.

Abuse. The heartbeat needs no login and no CSRF token (it changes nothing but a
count), so it is bounded instead: the viewer id must be 32 lowercase hex digits; one
client address counts at most ``MAX_VIEWERS_PER_CLIENT`` times per channel (a busy
NAT still counts, a script inventing ids does not); and each process allows a client
address ``HEARTBEATS_PER_MINUTE`` requests (``heartbeat_allowed``).

Peak viewers reach the database on nginx's on_update heartbeat (every 10 s per
broadcast, ``services.broadcast_heartbeat``), which writes the broadcast row anyway.
"""

import hashlib
import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from accounts.validators import USERNAME_PATTERN
from streams.models import Broadcast

# Players beat every 15-20 s: three missed beats and the viewer is gone.
VIEWER_TIMEOUT = 45.0
COUNT_CACHE_SECONDS = 5.0
MAX_VIEWERS_PER_CLIENT = 20
HEARTBEATS_PER_MINUTE = 120
# Which channels are live, asked of the database at most this often per process...
LIVE_CACHE_SECONDS = 5.0
# ...or this often when a heartbeat names a channel not yet known to be live.
LIVE_RECHECK_SECONDS = 1.0

VIEWER_ID = re.compile(r"[0-9a-f]{32}\Z")
CHANNEL_NAME = re.compile(USERNAME_PATTERN)

_lock = threading.Lock()
_counts: dict[str, tuple[float, int]] = {}
_requests: dict[str, tuple[float, int]] = {}
_live: tuple[float, frozenset[str]] = (0.0, frozenset())


def viewers_root() -> Path:
    return Path(settings.ECHO_VIEWERS_PATH)


def _client_tag(client: str) -> str:
    # Addresses are not kept in clear on disk; 12 hex digits keep clients apart.
    return hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _presence_file(name: str, *, viewer_id: str, client: str) -> Path:
    if not CHANNEL_NAME.match(name) or not VIEWER_ID.match(viewer_id):
        raise ValueError("invalid channel name or viewer id")
    return viewers_root() / name / f"{_client_tag(client)}-{viewer_id}"


def viewer_seen(name: str, *, viewer_id: str, client: str) -> None:
    """Record a heartbeat: one file created or its mtime bumped."""
    path = _presence_file(name, viewer_id=viewer_id, client=client)
    try:
        os.utime(path)
        return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    # A new viewer: this process's next count includes them.
    _forget(path.parent)


def _forget(directory: Path) -> None:
    with _lock:
        _counts.pop(str(directory), None)


def viewer_left(name: str, *, viewer_id: str, client: str) -> None:
    path = _presence_file(name, viewer_id=viewer_id, client=client)
    path.unlink(missing_ok=True)
    _forget(path.parent)


def _scan(directory: Path) -> int:
    oldest = time.time() - VIEWER_TIMEOUT
    per_client: dict[str, int] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            fresh = entry.stat().st_mtime >= oldest
        except FileNotFoundError:
            continue  # another worker removed it
        if not fresh:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
            continue
        client = entry.name.split("-", 1)[0]
        per_client[client] = per_client.get(client, 0) + 1
    return sum(min(count, MAX_VIEWERS_PER_CLIENT) for count in per_client.values())


def viewer_count(name: str, *, fresh: bool = False) -> int:
    """Players watching the channel now (at most COUNT_CACHE_SECONDS old unless fresh)."""
    if not CHANNEL_NAME.match(name):
        return 0
    directory = viewers_root() / name
    now = time.monotonic()
    if not fresh:
        with _lock:
            cached = _counts.get(str(directory))
        if cached and cached[0] > now:
            return cached[1]
    count = _scan(directory)
    with _lock:
        _counts[str(directory)] = (now + COUNT_CACHE_SECONDS, count)
    return count


def viewer_counts(names: Iterable[str]) -> dict[str, int]:
    return {name: viewer_count(name) for name in names}


def heartbeat_allowed(client: str) -> bool:
    """A per-process limit on heartbeat requests per client address (fixed one-minute window)."""
    now = time.monotonic()
    with _lock:
        if len(_requests) > 10_000:
            # Bound the memory a flood of addresses can take: drop windows that ended.
            for key in [key for key, (start, _) in _requests.items() if now - start >= 60]:
                del _requests[key]
        start, count = _requests.get(client, (now, 0))
        if now - start >= 60:
            start, count = now, 0
        if count >= HEARTBEATS_PER_MINUTE:
            return False
        _requests[client] = (start, count + 1)
        return True


def channel_is_live(name: str) -> bool:
    """Is the channel live? One query per process every few seconds, not one per heartbeat."""
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
    """Drop this process's caches (tests switch databases and directories under it)."""
    global _live
    with _lock:
        _counts.clear()
        _requests.clear()
        _live = (0.0, frozenset())
