"""nginx-rtmp's loopback control server: rtmp_stat (who publishes) and rtmp_control (drop).

Both have no authentication and see one worker only (the template's control server and
`worker_processes 1`). The ingest application is the first RTMP server, which
rtmp_control addresses by default.
"""

import logging
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from django.conf import settings

log = logging.getLogger(__name__)


def _control_get(path: str, params: dict[str, str]) -> bytes:
    url = f"{settings.ECHO_NGINX_CONTROL_URL}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=3) as response:
        return response.read()


def drop_publisher(*, client_id: str) -> bool:
    """Disconnect the encoder with this nginx client id from the ingest application."""
    if not client_id:
        return False
    try:
        body = _control_get("/control/drop/client", {"app": "ingest", "clientid": client_id})
    except (urllib.error.URLError, OSError) as exc:
        log.warning("could not drop rtmp client %s: %s", client_id, exc)
        return False
    return body.strip() not in (b"", b"0")


def ingest_publishers() -> dict[str, str] | None:
    """{client id: public name} of the encoders publishing now, or None if nginx can't be asked.

    Client ids restart from 1 when nginx restarts, so callers match on both."""
    try:
        body = _control_get("/stat", {})
    except (urllib.error.URLError, OSError):
        return None
    publishers = {}
    for app in ET.fromstring(body).iter("application"):
        if app.findtext("name") != "ingest":
            continue
        for stream in app.iter("stream"):
            for client in stream.iter("client"):
                if client.find("publishing") is not None:
                    publishers[client.findtext("id", "")] = stream.findtext("name", "")
    return publishers


def _record(action: str, name: str) -> str | None:
    """rtmp_control's record start/stop for the live application's `name`: the FLV's path
    when nginx opened (or closed) a file, None when it did nothing (no such stream, already
    recording, not recording) or cannot be asked."""
    try:
        # srv=1: the live application's server, the template's second RTMP server.
        params = {"srv": "1", "app": "live", "name": name, "rec": ""}
        body = _control_get(f"/control/record/{action}", params)
    except (urllib.error.URLError, OSError) as exc:
        log.warning("could not %s recording %s: %s", action, name, exc)
        return None
    return body.decode(errors="replace").strip() or None


def record_start(*, name: str) -> str | None:
    # nginx answers with the path even when it failed to open the file (permissions):
    # callers check that the file exists.
    return _record("start", name)


def record_stop(*, name: str) -> str | None:
    return _record("stop", name)
