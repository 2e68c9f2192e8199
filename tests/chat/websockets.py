"""Chat clients for tests against the whole ASGI application (origin check, session
login, routing) in this process, with the session's real Redis.

Channels' own WebsocketCommunicator cannot be imported without daphne (channels.testing
imports its live-server case, which needs daphne), so this is the same small wrapper
around asgiref's ApplicationCommunicator."""

import json

from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import Client

from echo.asgi import application


class WebsocketCommunicator(ApplicationCommunicator):
    def __init__(self, application, path: str, headers: list):
        scope = {"type": "websocket", "path": path, "query_string": b"", "headers": headers}
        super().__init__(application, {**scope, "subprotocols": []})

    async def connect(self, timeout: float = 1) -> tuple[bool, object]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        return True, response.get("subprotocol")

    async def send_to(self, text_data: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def receive_from(self, timeout: float = 1) -> str:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return response["text"]

    async def disconnect(self, code: int = 1000, timeout: float = 5) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def run(scenario) -> None:
    """Run an async test scenario; database work inside it runs on this (the test's) thread."""
    async_to_sync(scenario)()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def connect(name: str, cookie: str | None = None, *, welcome: bool = True):
    """A connected client; with welcome, its first frame (welcome + history) is read and
    kept as .first."""
    headers = [(b"origin", b"http://localhost")]
    if cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    client = WebsocketCommunicator(application, f"/ws/chat/{name}/", headers=headers)
    connected, _ = await client.connect(timeout=10)
    assert connected
    if welcome:
        client.first = await frame(client)
        assert [event["type"] for event in client.first] == ["welcome", "history"]
    return client


async def frame(client, timeout: float = 10) -> list[dict]:
    events = json.loads(await client.receive_from(timeout))
    assert isinstance(events, list)
    return events


async def event(client, kind: str, timeout: float = 10) -> dict:
    """The next event of this type, skipping others."""
    while True:
        for item in await frame(client, timeout):
            if item["type"] == kind:
                return item


async def send(client, body: str, nonce: str = "n1") -> None:
    await client.send_to(text_data=json.dumps({"type": "send", "body": body, "nonce": nonce}))


async def closed_with(client, timeout: float = 15) -> int:
    """The close code, skipping frames sent before the close."""
    while True:
        output = await client.receive_output(timeout)
        if output["type"] == "websocket.close":
            return output.get("code")
