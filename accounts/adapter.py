from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied

from echo.client import client_address


class AccountAdapter(DefaultAccountAdapter):
    def clean_username(self, username, shallow=False):
        # Channel names are lowercase; accept "Alice" as "alice" rather than refuse it.
        return super().clean_username(username.strip().lower(), shallow=shallow)

    def get_client_ip(self, request) -> str:
        # Login rate limits count per address: the same address heartbeats and the API use.
        address = client_address(request)
        if not address:
            raise PermissionDenied("Unable to determine client IP address")
        return address
