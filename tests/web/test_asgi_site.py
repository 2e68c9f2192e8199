"""The site as production serves it: echo.asgi on uvicorn behind nginx from deploy/, seen
from outside (HTTP clients and the `websockets` package), pages and WebSockets alike."""

import json
import re
import ssl
import urllib.request
from pathlib import Path

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import echo.asgi
from echo.workers import WS_MAX_SIZE
from tests.servers import serving_asgi
from tests.streaming import free_port, self_signed_certificate


class WhoAmI(AsyncWebsocketConsumer):
    """A route of the tests' own: says who the session belongs to, and how long each
    frame it got was."""

    async def connect(self) -> None:
        await self.accept()
        user = self.scope["user"]
        await self.send(json.dumps({"user": user.username if user.is_authenticated else None}))

    async def receive(self, text_data=None, bytes_data=None) -> None:
        await self.send(json.dumps({"length": len(text_data or bytes_data or "")}))


@pytest.fixture
def whoami_route():
    """/ws/test/whoami/ in the real echo.asgi router, behind its origin and session checks."""
    route = path("ws/test/whoami/", WhoAmI.as_asgi())
    echo.asgi.websocket_urlpatterns.append(route)
    yield "/ws/test/whoami/"
    echo.asgi.websocket_urlpatterns.remove(route)


def access_log(site) -> str:
    return (Path(site.nginx.prefix) / "logs" / "access.log").read_text()


def test_pages_are_served_by_asgi_through_nginx(asgi_site, alice):
    status, body = asgi_site.get("/alice")
    assert status == 200
    assert b"Alice A." in body

    status, body = asgi_site.get("/alice/status.json")
    assert status == 200
    assert json.loads(body)["live"] is False


def test_nginx_upgrades_a_websocket_from_the_sites_origin(asgi_site, whoami_route):
    with connect(asgi_site.ws_url(whoami_route), origin=asgi_site.origin) as websocket:
        assert websocket.response.status_code == 101
        assert json.loads(websocket.recv(timeout=10)) == {"user": None}
        websocket.send("hello")
        assert json.loads(websocket.recv(timeout=10)) == {"length": 5}
    # nginx itself answered 101: the Upgrade went through it, not around it.
    assert re.search(rf'"GET {whoami_route} HTTP/1.1" 101 ', access_log(asgi_site))


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
def test_a_websocket_from_another_origin_is_refused(asgi_site, whoami_route, origin):
    with pytest.raises(InvalidStatus) as refused:
        connect(asgi_site.ws_url(whoami_route), origin=origin, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_the_websocket_knows_the_session_that_nginx_passed_on(
    asgi_site, whoami_route, alice, logged_in
):
    session = logged_in(alice).cookies["sessionid"].value
    with connect(
        asgi_site.ws_url(whoami_route),
        origin=asgi_site.origin,
        additional_headers={"Cookie": f"sessionid={session}"},
    ) as websocket:
        assert json.loads(websocket.recv(timeout=10)) == {"user": "alice"}


def test_a_frame_over_the_size_limit_closes_the_websocket(asgi_site, whoami_route):
    with connect(
        asgi_site.ws_url(whoami_route), origin=asgi_site.origin, max_size=None
    ) as websocket:
        websocket.recv(timeout=10)
        websocket.send("x" * WS_MAX_SIZE)
        assert json.loads(websocket.recv(timeout=10)) == {"length": WS_MAX_SIZE}
        websocket.send("x" * (WS_MAX_SIZE + 1))
        with pytest.raises(ConnectionClosed):
            websocket.recv(timeout=10)
    assert websocket.close_code == 1009  # message too big


def test_websockets_work_over_https(transactional_db, settings, tmp_path, whoami_route):
    certificate, key = self_signed_certificate(tmp_path)
    https_port = free_port()
    with serving_asgi(
        settings,
        tmp_path,
        tls_certificate=str(certificate),
        tls_certificate_key=str(key),
        https_listen=f"127.0.0.1:{https_port}",
    ) as site:
        context = ssl.create_default_context(cafile=str(certificate))
        url = f"wss://127.0.0.1:{https_port}{whoami_route}"
        origin = f"https://127.0.0.1:{https_port}"
        with connect(url, origin=origin, ssl=context) as websocket:
            assert websocket.response.status_code == 101
            assert json.loads(websocket.recv(timeout=10)) == {"user": None}
        # The page over HTTPS still works beside it.
        with urllib.request.urlopen(f"{origin}/", context=context, timeout=10) as response:
            assert response.status == 200
        assert site.url == f"https://127.0.0.1:{https_port}"
