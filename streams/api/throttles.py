"""DRF's throttles, counting anonymous clients by echo's one client address (echo/client.py).

DRF's own get_ident reads X-Forwarded-For by NUM_PROXIES with rules of its own; these
agree with the heartbeat and login limits by construction.
"""

from rest_framework import throttling

from echo.client import client_address


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_ident(self, request) -> str:
        return client_address(request)


class UserRateThrottle(throttling.UserRateThrottle):
    # Logged-in clients are counted per user; the address only matters if that fails.
    def get_ident(self, request) -> str:
        return client_address(request)


class ClipRateThrottle(UserRateThrottle):
    """Clips per user (settings.ECHO_CLIP_RATE), the page's form and the API together."""

    scope = "clips"

    def get_rate(self) -> str:
        from django.conf import settings

        return settings.ECHO_CLIP_RATE
