"""One client address for every limit, honouring ECHO_TRUSTED_PROXIES.

Behind a CDN (ECHO_TRUSTED_PROXIES=2) every request reaches nginx from a CDN edge:
counting by the address nginx saw would put every viewer behind one edge into one
heartbeat, viewer-cap, login and API bucket.
"""

import json

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.test import Client, RequestFactory
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle

from accounts.models import User
from echo.client import client_address
from streams.models import Broadcast
from streams.social import viewers

EDGE = "198.51.100.1"  # the CDN edge, as nginx sees it
ANNA = "a" * 32
BEN = "b" * 32


def address(forwarded: str | None, *, remote: str = "127.0.0.1") -> str:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **meta))


# --- the helper ----------------------------------------------------------------------


def test_behind_nginx_alone_the_client_is_the_last_entry(settings):
    settings.ECHO_TRUSTED_PROXIES = 1
    assert address("192.0.2.7") == "192.0.2.7"
    assert address("10.6.6.6, 192.0.2.7") == "192.0.2.7"


def test_behind_a_cdn_the_client_is_the_entry_before_the_edge(settings):
    settings.ECHO_TRUSTED_PROXIES = 2
    assert address(f"192.0.2.7, {EDGE}") == "192.0.2.7"
    assert address(f"10.6.6.6, 192.0.2.7,{EDGE}") == "192.0.2.7"
    assert address(f"2001:DB8::7, {EDGE}") == "2001:db8::7"


def test_without_a_proxy_the_header_is_ignored(settings):
    settings.ECHO_TRUSTED_PROXIES = 0
    assert address("10.6.6.6", remote="192.0.2.7") == "192.0.2.7"


@pytest.mark.parametrize(
    "forwarded",
    [
        None,
        "",
        # Fewer entries than proxies: the leftmost could be the client's own claim.
        "10.6.6.6",
        # Not an address where a trusted proxy wrote one.
        f"10.6.6.6, not-an-address, {EDGE}",
        f" , {EDGE}",
        f"{'1' * 5000}, {EDGE}",
    ],
)
def test_it_falls_back_to_the_connecting_address(settings, forwarded):
    settings.ECHO_TRUSTED_PROXIES = 2
    assert address(forwarded) == "127.0.0.1"


# --- every limit counts viewers behind one CDN edge apart --------------------------------


@pytest.fixture
def behind_a_cdn(settings, db):
    # Only ECHO_TRUSTED_PROXIES: the limits below must all read it through echo/client.py.
    settings.ECHO_TRUSTED_PROXIES = 2
    viewers.forget_all()
    cache.clear()
    yield
    viewers.forget_all()
    cache.clear()


def via_cdn(client_addr: str, *, forged: str = "") -> dict:
    # The client's own header (forged), the address the edge saw, the edge nginx saw.
    chain = ", ".join(part for part in (forged, client_addr, EDGE) if part)
    return {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": chain}


def beat(viewer_id: str, client_addr: str, *, forged: str = ""):
    return Client(**via_cdn(client_addr, forged=forged)).post(
        "/alice/viewers", json.dumps({"viewer": viewer_id}), content_type="application/json"
    )


def test_the_viewer_cap_counts_viewers_behind_one_edge_apart(behind_a_cdn, alice, monkeypatch):
    monkeypatch.setattr(viewers, "MAX_VIEWERS_PER_CLIENT", 1)
    Broadcast.objects.create(channel=alice.channel, client_id="7")

    assert beat(ANNA, "192.0.2.1").status_code == 200
    assert beat(BEN, "192.0.2.2").status_code == 200

    assert viewers.viewer_count("alice") == 2


def test_a_forged_entry_does_not_escape_the_viewer_cap(behind_a_cdn, alice, monkeypatch):
    monkeypatch.setattr(viewers, "MAX_VIEWERS_PER_CLIENT", 1)
    Broadcast.objects.create(channel=alice.channel, client_id="7")

    beat(ANNA, "192.0.2.1", forged="10.0.0.1")
    beat(BEN, "192.0.2.1", forged="10.0.0.2")

    assert viewers.viewer_count("alice") == 1


def test_the_heartbeat_rate_limit_counts_viewers_behind_one_edge_apart(
    behind_a_cdn, alice, monkeypatch
):
    monkeypatch.setattr(viewers, "HEARTBEATS_PER_MINUTE", 2)
    Broadcast.objects.create(channel=alice.channel, client_id="7")

    first = [beat(ANNA, "192.0.2.1", forged=f"10.0.0.{n}").status_code for n in range(3)]
    other = beat(BEN, "192.0.2.2").status_code

    assert first == [200, 200, 429]
    assert other == 200


def log_in(client_addr: str, login: str, password: str, *, forged: str = "") -> Client:
    client = Client(**via_cdn(client_addr, forged=forged))
    client.post("/accounts/login/", {"login": login, "password": password})
    return client


def test_the_login_limit_counts_viewers_behind_one_edge_apart(behind_a_cdn):
    user = User.objects.create_user("dana", "dana@example.org", "right-password")
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    # ACCOUNT_RATE_LIMITS["login_failed"]: 10 failures a minute from one address,
    # each with its own forged entry and a different login (the per-login limit is 5).
    for n in range(10):
        log_in("192.0.2.1", f"guess{n}", "wrong", forged=f"10.0.0.{n}")

    refused = log_in("192.0.2.1", "dana", "right-password", forged="10.0.0.99")
    neighbour = log_in("192.0.2.2", "dana", "right-password")

    assert "_auth_user_id" not in refused.session
    assert neighbour.session.get("_auth_user_id") == str(user.pk)


def test_the_api_throttle_counts_viewers_behind_one_edge_apart(behind_a_cdn, alice, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "1/minute", raising=False)
    first = APIClient(**via_cdn("192.0.2.1"))
    second = APIClient(**via_cdn("192.0.2.2"))
    forging = APIClient(**via_cdn("192.0.2.1", forged="10.0.0.9"))

    assert first.get("/api/channels/alice/").status_code == 200
    assert second.get("/api/channels/alice/").status_code == 200
    assert forging.get("/api/channels/alice/").status_code == 429
