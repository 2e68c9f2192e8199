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
