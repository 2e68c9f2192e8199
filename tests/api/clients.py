"""API clients logged in one way or another, and small readers of responses."""

from allauth.account.models import EmailAddress
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User


def with_session(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def with_token(user: User) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def verified(user: User) -> User:
    """The user with a confirmed e-mail address, as a token needs."""
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


def names(response) -> list[str]:
    """The channel names in a paginated list response, in order."""
    return [channel["name"] for channel in response.json()["results"]]
