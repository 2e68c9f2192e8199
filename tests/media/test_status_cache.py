"""status.json through the origin's nginx: one Django request per channel and second
answers every player, never more than a second old, and no cookie crosses it."""

import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.signals import request_started

pytestmark = [pytest.mark.streaming, pytest.mark.django_db(transaction=True)]


class DjangoRequests:
    """The requests that reached Django (live_server runs in this process), by path."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, sender, environ, **kwargs) -> None:
        with self.lock:
            self.seen.append((environ.get("PATH_INFO", ""), environ.get("HTTP_COOKIE", "")))

    def to(self, path: str) -> list[str]:
        """The Cookie headers of the requests for path."""
        with self.lock:
            return [cookie for seen_path, cookie in self.seen if seen_path == path]


@pytest.fixture
def django_requests():
    watcher = DjangoRequests()
    request_started.connect(watcher)
    yield watcher
    request_started.disconnect(watcher)


def get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def test_many_players_polling_at_once_cost_django_one_request_a_second(
    rtmp, alice, go_live, django_requests
):
    go_live(alice)
    url = f"{rtmp.http_url}/alice/status.json"
    started = time.time()
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: get(url), range(60)))
    ended = time.time()
    assert {status for status, _, _ in answers} == {200}
    assert len({body for _, _, body in answers}) == 1
    assert b'"live": true' in answers[0][2]
    # A request can only miss in a second no earlier one has filled.
    seconds = int(ended) - int(started) + 1
    assert 1 <= len(django_requests.to("/alice/status.json")) <= seconds
    assert sum(headers["X-Echo-Cache"] == "HIT" for _, headers, _ in answers) >= 60 - seconds
    # Browsers still keep none of it.
    assert answers[0][1]["Cache-Control"] == "no-store"


def test_a_status_cached_before_going_live_is_gone_the_next_second(rtmp, alice, go_live):
    url = f"{rtmp.http_url}/alice/status.json"
    assert b'"live": false' in get(url)[2]
    go_live(alice)
    time.sleep(1.05 - time.time() % 1)
    assert b'"live": true' in get(url)[2]


def test_no_cookie_reaches_django_or_comes_back_through_the_cache(
    rtmp, alice, go_live, django_requests
):
    go_live(alice)
    url = f"{rtmp.http_url}/alice/status.json"
    status, headers, _ = get(url, {"Cookie": "sessionid=abc123; csrftoken=def456"})
    assert status == 200
    assert "Set-Cookie" not in headers
    assert django_requests.to("/alice/status.json") == [""]


def test_an_unknown_channel_is_still_a_404(rtmp, alice):
    with pytest.raises(urllib.error.HTTPError) as error:
        get(f"{rtmp.http_url}/nobody/status.json")
    assert error.value.code == 404
