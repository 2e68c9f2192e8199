"""The HTTP contract with nginx-rtmp's on_publish, on_publish_done and on_update.

Verdicts: 2xx allows, 3xx renames the stream to the Location text, anything else
denies (and for on_update drops the publisher). So every answer here is chosen on
purpose: no view in this module may produce an accidental redirect.
"""

import hashlib
import hmac
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from streams import services

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
    return (
        "rtmp-failed-publish:" + hashlib.sha256(addr.encode("utf-8", "surrogatepass")).hexdigest()
    )


def _too_many_failures(addr: str) -> bool:
    return cache.get(_failures_key(addr), 0) >= settings.ECHO_RTMP_FAILED_PUBLISH_LIMIT


def _count_failure(addr: str) -> None:
    key = _failures_key(addr)
    # add() starts the window; incr() keeps its expiry.
    if not cache.add(key, 1, timeout=settings.ECHO_RTMP_FAILED_PUBLISH_WINDOW):
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=settings.ECHO_RTMP_FAILED_PUBLISH_WINDOW)


@callback
def on_publish(request: HttpRequest) -> HttpResponse:
    addr = request.POST.get("addr", "")[:64]
    try:
        if _too_many_failures(addr):
            log.warning("publish refused from %s: too many failed attempts", addr)
            return _deny(429, "too many failed attempts")
    except DatabaseError:
        log.exception("publish refused: database unavailable")
        return _deny(503, "unavailable")
    publisher = _publisher(request)
    if publisher is None:
        return _deny(400, "malformed publish")
    key, client_id = publisher
    try:
        broadcast = services.broadcast_start(key=key, client_id=client_id)
    except services.UnknownKey:
        log.info("publish refused from %s: unknown stream key", addr)
        _count_failure(addr)
        return _deny(403, "refused")
    except services.PublishRefused as refused:
        log.info("publish refused from %s: %s", addr, refused)
        return _deny(403, "refused")
    except DatabaseError:
        log.exception("publish refused: database unavailable")
        return _deny(503, "unavailable")
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
