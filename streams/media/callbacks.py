"""The HTTP contract with nginx-rtmp's on_publish, on_publish_done, on_update and
on_record_done.

Verdicts: 2xx allows, 3xx renames the stream to the Location text, anything else
denies (and for on_update drops the publisher). So every answer here is chosen on
purpose: no view in this module may produce an accidental redirect.
"""

import hashlib
import hmac
import logging
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from streams import services
from streams.media import renditions
from streams.models import Channel, TranscodeState
from streams.replays import services as replays

log = logging.getLogger(__name__)

# The push relay's own session reports to the ingest application too; refusing
# it would kill the relay.
RELAY_FLASHVER = "ngx-local-relay"
MAX_KEY_LENGTH = 64
SECRET_HEADER = "X-Echo-Callback-Secret"


def _allow() -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def _deny(status: int, reason: str) -> HttpResponse:
    return HttpResponse(reason, status=status, content_type="text/plain")


def _from_nginx(request: HttpRequest) -> bool:
    if request.META.get("REMOTE_ADDR") not in settings.ECHO_RTMP_ALLOWED_ADDRESSES:
        return False
    expected = settings.ECHO_RTMP_CALLBACK_SECRET.encode()
    # A header, set by nginx's control server (deploy/nginx.conf.template): a secret in
    # the callback URL would reach nginx's error log whenever Django is down.
    given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogatepass")
    return bool(expected) and hmac.compare_digest(given, expected)


def _publisher(request: HttpRequest) -> tuple[str, str] | None:
    """The (key, client id) of an ingest publisher, or None for malformed or foreign calls."""
    key = request.POST.get("name", "")
    client_id = request.POST.get("clientid", "")
    if request.POST.get("app") != "ingest":
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not client_id.isdigit() or len(client_id) > 20:
        return None
    return key, client_id


def _is_relay(request: HttpRequest) -> bool:
    return request.POST.get("flashver") == RELAY_FLASHVER and not request.POST.get("app")


def callback(handler):
    handler = require_POST(handler)

    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        if not _from_nginx(request):
            log.warning("refused rtmp callback from %s", request.META.get("REMOTE_ADDR"))
            return _deny(403, "forbidden")
        return handler(request)

    view.__name__ = handler.__name__
    return view


def _failures_key(addr: str) -> str:
    """The address's failure window: opened by its first failure, gone when it expires."""
    return (
        "rtmp-failed-publish:" + hashlib.sha256(addr.encode("utf-8", "surrogatepass")).hexdigest()
    )


def _failures(addr: str) -> int:
    window = _failures_key(addr)
    opened = cache.get(window)
    return 0 if opened is None else cache.get(f"{window}:{opened}", 0)


def _too_many_failures(addr: str) -> bool:
    return _failures(addr) >= settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT


def _refuse_unknown_key(addr: str) -> HttpResponse:
    """403, counted per address; 429 once the address is over the limit."""
    if _too_many_failures(addr):
        log.warning("publish refused from %s: too many failed attempts", addr)
        return _deny(429, "too many failed attempts")
    log.info("publish refused from %s: unknown stream key", addr)
    _count_failure(addr)
    return _deny(403, "refused")


def _count_failure(addr: str) -> None:
    # The window opens at the first failure and never moves. Django's RedisCache.incr() is
    # EXISTS then INCR: a key expiring in between comes back without an expiry. So the
    # count lives under a key named after the moment the window opened, and only the
    # window's own entry (set once, by add()) decides when it ends. Without Redis every
    # step is a no-op (echo/cache.py): failures go uncounted, right keys still work.
    timeout = settings.ECHO_RTMP_FAILED_PUBLISH_WINDOW
    window = _failures_key(addr)
    cache.add(window, time.time_ns(), timeout=timeout)
    opened = cache.get(window)
    if opened is None:
        return  # the window closed this instant: this failure falls in none
    count = f"{window}:{opened}"
    if not cache.add(count, 1, timeout=timeout):
        try:
            cache.incr(count)
        except ValueError:  # expired between add() and incr()
            cache.add(count, 1, timeout=timeout)
        cache.touch(count, timeout)


@callback
def on_publish(request: HttpRequest) -> HttpResponse:
    addr = request.POST.get("addr", "")[:64]
    publisher = _publisher(request)
    if publisher is None:
        return _deny(400, "malformed publish")
    key, client_id = publisher
    try:
        # Look the key up before the limit: many streamers share one address behind a
        # carrier NAT, and someone else's wrong keys must not lock out a right one.
        # (A key rotated after this lookup is refused below, uncounted: not a guess.)
        if not Channel.objects.with_key(key).exists():
            return _refuse_unknown_key(addr)
        broadcast = services.broadcast_start(key=key, client_id=client_id)
    except services.PublishRefused as refused:
        log.info("publish refused from %s: %s", addr, refused)
        return _deny(403, "refused")
    except DatabaseError:
        log.exception("publish refused: database unavailable")
        return _deny(503, "unavailable")
    # Recording starts once nginx has pushed the stream to `live` (after this answer).
    replays.recording_start_soon(broadcast_id=broadcast.pk)
    # The rename: the stream continues (and is pushed to HLS) under the public name.
    response = HttpResponse(status=302, content_type="text/plain")
    response["Location"] = broadcast.channel.name
    return response


@callback
def on_publish_done(request: HttpRequest) -> HttpResponse:
    publisher = _publisher(request)
    if publisher is not None:
        key, client_id = publisher
        try:
            services.broadcast_publisher_done(key=key, client_id=client_id)
        except DatabaseError:
            # nginx ignores this answer; reconciliation ends the broadcast later.
            log.exception("publish_done not recorded: database unavailable")
    return _allow()


@callback
def on_update(request: HttpRequest) -> HttpResponse:
    if _is_relay(request) or request.POST.get("call") != "update_publish":
        return _allow()
    publisher = _publisher(request)
    if publisher is None:
        return _deny(400, "malformed update")
    key, client_id = publisher
    try:
        still_allowed = services.broadcast_heartbeat(key=key, client_id=client_id)
    except DatabaseError:
        # Keep the broadcast running: dropping every publisher because the
        # database blinked would be worse than one missed heartbeat.
        log.exception("heartbeat not recorded: database unavailable")
        return _allow()
    if not still_allowed:
        return _deny(403, "ended")
    return _allow()


@callback
def on_record_done(request: HttpRequest) -> HttpResponse:
    """The live application closed a recording (the broadcast ended, or it was paused)."""
    if request.POST.get("app") != "live" or not request.POST.get("path"):
        return _deny(400, "malformed record_done")
    try:
        replays.recording_done(path=request.POST["path"][:500])
    except DatabaseError:
        # The reconcile loop finishes recordings whose broadcast ended without this.
        log.exception("record_done not recorded: database unavailable")
    return _allow()


_NAME = re.compile(r"[a-z0-9_-]{3,25}")
_LEVELS = re.compile(r"[a-z0-9,]{0,100}")
_REPORTED_STATES = {
    TranscodeState.STARTING,
    TranscodeState.RUNNING,
    TranscodeState.RESTARTING,
    TranscodeState.SOURCE,
    TranscodeState.BEHIND,
}


def _number(text: str, kind, default):
    try:
        return kind(text) if text else default
    except ValueError:
        return default


@callback
def on_transcode(request: HttpRequest) -> HttpResponse:
    """A broadcast's transcoder (streams/media/transcoder.py) asks for a slot, reports or
    stops. Answers JSON; nginx-rtmp is not involved, so every answer is a 200."""
    name, event = request.POST.get("name", ""), request.POST.get("event", "")
    levels = request.POST.get("levels", "")
    state = request.POST.get("state", "")
    if not _NAME.fullmatch(name) or not _LEVELS.fullmatch(levels):
        return _deny(400, "malformed transcode")
    try:
        if event == "claim":
            answer = renditions.transcode_claim(name=name)
        elif event == "status" and state in _REPORTED_STATES:
            speed = _number(request.POST.get("speed", ""), float, None)
            answer = renditions.transcode_report(
                name=name,
                state=state,
                levels=[level for level in levels.split(",") if level],
                speed=speed if speed is None or 0 <= speed < 100 else None,
                restarts=min(_number(request.POST.get("restarts", ""), int, 0), 1_000_000),
            )
        elif event == "release":
            answer = renditions.transcode_release(name=name)
        else:
            return _deny(400, "malformed transcode")
    except DatabaseError:
        log.exception("transcode %s not recorded: database unavailable", event)
        # A running transcoder keeps going; a new one waits for the database.
        answer = {"retry": 10} if event == "claim" else {}
    return JsonResponse(answer)
