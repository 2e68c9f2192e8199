"""The client's address, computed one way for every limit: heartbeats, logins, the API."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

# The longest textual IPv6 address with a zone id stays well below this.
MAX_ADDRESS_LENGTH = 64


def _address(text: str) -> str | None:
    text = text.strip()
    if not text or len(text) > MAX_ADDRESS_LENGTH:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The address the first trusted proxy saw, else REMOTE_ADDR.

    Each of the ECHO_TRUSTED_PROXIES proxies (nginx; a CDN in front of it) appends the
    address it saw to X-Forwarded-For, and the last one is REMOTE_ADDR. So the client's
    address is ECHO_TRUSTED_PROXIES entries from the right: everything further left was
    sent by the client and may be forged. A request with fewer entries did not come
    through every proxy, and its leftmost entry could be the client's own claim.
    """
    remote = request.META.get("REMOTE_ADDR", "")[:MAX_ADDRESS_LENGTH]
    proxies = settings.ECHO_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies < 1 or not forwarded:
        return remote
    # rsplit: a client can send a huge header; only the trusted tail is looked at.
    entries = forwarded.rsplit(",", proxies)
    if len(entries) < proxies:
        return remote
    return _address(entries[-proxies]) or remote
