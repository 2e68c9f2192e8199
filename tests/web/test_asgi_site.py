"""The site as production serves it: echo.asgi on uvicorn behind nginx from deploy/, seen
from outside (HTTP clients and the `websockets` package), pages and chat's WebSocket alike."""

import json
import re
import ssl
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from echo.workers import WS_MAX_SIZE
from streams.social.viewers import MAX_VIEWERS_PER_CLIENT
from tests.servers import serving_asgi
from tests.streaming import free_port, self_signed_certificate

CHAT = "/ws/chat/alice/"


def events(websocket) -> list[dict]:
    """The next frame: a JSON array of events (streams/chat)."""
    return json.loads(websocket.recv(timeout=10))


def access_log(site) -> str:
    return (Path(site.nginx.prefix) / "logs" / "access.log").read_text()


def test_pages_are_served_by_asgi_through_nginx(asgi_site, alice):
    status, body = asgi_site.get("/alice")
    assert status == 200
    assert b"Alice A." in body

    status, body = asgi_site.get("/alice/status.json")
    assert status == 200
    assert json.loads(body)["live"] is False


def test_nginx_upgrades_the_chat_websocket_and_an_anonymous_viewer_is_welcomed(asgi_site, alice):
    with connect(asgi_site.ws_url(CHAT), origin=asgi_site.origin) as websocket:
        assert websocket.response.status_code == 101
        welcome = events(websocket)[0]
    assert welcome["type"] == "welcome"
    assert welcome["channel"] == "alice"
    assert welcome["me"] is None
    assert welcome["can_send"] is False
    # nginx itself answered 101: the Upgrade went through it, not around it.
    assert re.search(rf'"GET {CHAT} HTTP/1.1" 101 ', access_log(asgi_site))


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1.evil.example", None])
def test_a_websocket_from_another_origin_is_refused(asgi_site, alice, origin):
    with pytest.raises(InvalidStatus) as refused:
        connect(asgi_site.ws_url(CHAT), origin=origin, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_the_websocket_knows_the_session_that_nginx_passed_on(asgi_site, alice, logged_in):
    session = logged_in(alice).cookies["sessionid"].value
    with connect(
        asgi_site.ws_url(CHAT),
        origin=asgi_site.origin,
        additional_headers={"Cookie": f"sessionid={session}"},
    ) as websocket:
        welcome = events(websocket)[0]
    assert welcome["me"]["name"] == "alice"
    assert "streamer" in welcome["me"]["badges"]


def test_a_frame_over_the_size_limit_closes_the_websocket(asgi_site, alice):
    with connect(asgi_site.ws_url(CHAT), origin=asgi_site.origin) as websocket:
        events(websocket)
        # At the limit: the chat refuses it, the connection stays.
        websocket.send("x" * WS_MAX_SIZE)
        batch = events(websocket)
        assert [event["type"] for event in batch if event["type"] == "error"] == ["error"]
        # Past it: uvicorn closes before the application sees a byte.
        websocket.send("x" * (WS_MAX_SIZE + 1))
        with pytest.raises(ConnectionClosed):
            while True:
                websocket.recv(timeout=10)
    assert websocket.protocol.close_rcvd.code == 1009  # message too big


def test_chat_works_over_https(transactional_db, settings, tmp_path, alice):
    certificate, key = self_signed_certificate(tmp_path)
    https_port = free_port()
    with serving_asgi(
        settings,
        tmp_path,
        tls_certificate=str(certificate),
        tls_certificate_key=str(key),
        https_listen=f"127.0.0.1:{https_port}",
    ) as site:
        assert site.url == f"https://127.0.0.1:{https_port}"
        context = ssl.create_default_context(cafile=str(certificate))
        with connect(site.ws_url(CHAT), origin=site.origin, ssl=context) as websocket:
            assert websocket.response.status_code == 101
            assert events(websocket)[0]["type"] == "welcome"
        with urllib.request.urlopen(f"{site.url}/alice", context=context, timeout=10) as page:
            assert page.status == 200


def test_a_forged_forwarded_address_does_not_escape_the_per_address_cap(asgi_site, alice, go_live):
    # uvicorn takes X-Forwarded-For only from loopback (nginx), and nginx appends the
    # address it saw: every heartbeat below comes from 127.0.0.1, whatever it claims.
    go_live(alice)
    for number in range(MAX_VIEWERS_PER_CLIENT + 5):
        request = urllib.request.Request(
            f"{asgi_site.url}/alice/viewers",
            data=json.dumps({"viewer": f"{number:032x}"}).encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": f"10.0.0.{number}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            counted = json.loads(response.read())["viewers"]
    assert counted == MAX_VIEWERS_PER_CLIENT
