"""Two web servers behind one nginx, each its own gunicorn + uvicorn process on the same
database and Redis: whatever one of them learns, the other must know too."""

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client
from websockets.sync.client import connect

from streams.chat.models import ChatMessage
from tests.streaming import wait_for

pytestmark = [pytest.mark.streaming]


def heartbeat(server_url: str, viewer: str) -> dict:
    request = urllib.request.Request(
        f"{server_url}/alice/viewers",
        data=json.dumps({"viewer": viewer}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_nginx_spreads_requests_over_every_server(web_servers, alice):
    site = web_servers(2)
    for _ in range(10):
        assert site.get("/alice")[0] == 200

    for server in site.servers:
        assert re.search(r'"GET /alice HTTP/1\.[01]" 200', server.log())
    pids = {server.process.pid for server in site.servers}
    assert len(pids) == 2


def test_viewer_counts_agree_through_either_server(web_servers, alice, go_live):
    go_live(alice)
    first, second = web_servers(2).servers

    assert heartbeat(first.url, "a" * 32)["viewers"] == 1
    heartbeat(second.url, "b" * 32)

    # Each process caches a count for a few seconds: both must reach 2 soon after.
    def both_count_two() -> bool:
        return all(heartbeat(server.url, "a" * 32)["viewers"] == 2 for server in (first, second))

    wait_for(both_count_two, timeout=30, interval=1, message="both servers to count 2 viewers")


def test_a_login_through_one_server_holds_on_the_other(web_servers, alice, verified):
    verified(alice)
    # The servers run the real settings, which do not know the tests' fast MD5 hasher.
    alice.password = PBKDF2PasswordHasher().encode("password", "salt1234", iterations=1000)
    alice.save(update_fields=["password"])
    first, second = web_servers(2).servers
    cookies = http.cookiejar.CookieJar()  # cookies ignore ports: both servers get them
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))

    login_url = f"{first.url}/accounts/login/"
    with browser.open(login_url, timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"csrfmiddlewaretoken": token, "login": "alice", "password": "password"}
    request = urllib.request.Request(login_url, data=urllib.parse.urlencode(form).encode())
    with browser.open(request, timeout=10) as response:
        assert response.url == f"{first.url}/dashboard/"

    with browser.open(f"{second.url}/dashboard/", timeout=10) as response:
        assert response.url == f"{second.url}/dashboard/"  # not redirected to log in
        assert b"alice" in response.read()


def chat_events(websocket, kind: str) -> dict:
    """The next chat event of this type (frames are JSON arrays of events)."""
    for _ in range(20):
        for event in json.loads(websocket.recv(timeout=10)):
            if event["type"] == kind:
                return event
    raise AssertionError(f"no {kind} event")


def test_chat_written_on_one_server_reaches_readers_on_the_other(web_servers, alice, bob, verified):
    verified(bob)
    client = Client()
    client.force_login(bob)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    first, second = web_servers(2).servers
    path = "/ws/chat/alice/"

    def ws(server, **headers):
        return connect(
            "ws" + server.url.removeprefix("http") + path,
            origin=server.url,
            additional_headers=headers,
            open_timeout=10,
        )

    with ws(second) as reader, ws(first, Cookie=cookie) as writer:
        chat_events(reader, "history")
        chat_events(writer, "history")
        writer.send(json.dumps({"type": "send", "body": "across processes", "nonce": "x1"}))
        ack = chat_events(writer, "ack")
        message = chat_events(reader, "message")
        assert message["id"] == ack["id"] and message["body"] == "across processes"
        assert message["author"]["name"] == "bob"
    assert ChatMessage.objects.get(pk=ack["id"]).body == "across processes"
