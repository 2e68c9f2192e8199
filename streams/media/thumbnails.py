"""Live preview images for the directory, made by nginx-rtmp itself.

deploy/nginx.conf.template runs one ffmpeg per live channel (``exec_push`` in the
internal ``live`` application, so it gets the public name, never the key). It reads
the stream from loopback, decodes keyframes only (``-skip_frame nokey``: about one
frame a second, cheap on a small machine) and rewrites ``<thumbs>/<name>.jpg`` every
5 s, atomically. nginx kills it when the broadcast ends and ``exec_publish_done``
deletes the image; nginx serves ``/thumbs/<name>.jpg`` itself with a short cache.

Django only decides whether to show one: a missing or stale image (nginx crashed,
or a development server without nginx) means the placeholder artwork instead.
"""

import time
from pathlib import Path

from django.conf import settings

# ffmpeg rewrites the image every 5 s; older than this and the stream is gone or stuck.
MAX_AGE_SECONDS = 60


def thumbs_root() -> Path:
    # The one setting nginx's exec_push writes to (NginxConfig.from_settings).
    return Path(settings.ECHO_THUMBS_PATH)


def thumbnail_url(name: str) -> str | None:
    """The URL of the channel's current preview image, or None to show the placeholder."""
    try:
        modified = (thumbs_root() / f"{name}.jpg").stat().st_mtime
    except (OSError, ValueError):
        return None
    if time.time() - modified > MAX_AGE_SECONDS:
        return None
    base = settings.ECHO_THUMBS_URL
    # A new URL per image: browsers and caches never show an old frame as new.
    return f"{base}{name}.jpg?v={int(modified)}"
