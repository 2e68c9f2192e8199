"""Request limits per anonymous address and per user."""

from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from tests.api.clients import with_session, with_token


def test_anonymous_requests_are_throttled(anonymous, alice, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "2/minute", raising=False)

    statuses = [anonymous.get("/api/channels/alice/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = anonymous.get("/api/channels/live/")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    assert response.json()["detail"].startswith("Request was throttled.")


def test_anonymous_clients_are_told_apart_by_the_address_nginx_adds(alice, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "1/minute", raising=False)
    first = APIClient(HTTP_X_FORWARDED_FOR="10.0.0.1")
    second = APIClient(HTTP_X_FORWARDED_FOR="10.0.0.2")
    # A client's own X-Forwarded-For comes first; nginx appends the real address.
    spoofing = APIClient(HTTP_X_FORWARDED_FOR="10.0.0.9, 10.0.0.1")

    assert first.get("/api/channels/alice/").status_code == 200
    assert second.get("/api/channels/alice/").status_code == 200
    assert spoofing.get("/api/channels/alice/").status_code == 429


def test_logged_in_requests_are_throttled_per_user(alice, bob, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "rate", "2/minute", raising=False)
    alices = with_token(alice)

    statuses = [alices.get("/api/me/channel/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert with_session(bob).get("/api/me/channel/").status_code == 200
