"""deploy/nginx.conf.template: rendering, and the routes a real nginx makes of it."""

import dataclasses
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streams.media.nginx import NginxConfig, render_config, start_private_nginx, stop_private_nginx
from tests.streaming import free_port, nginx_config


def config_for(tmp_path, **overrides) -> NginxConfig:
    # Nothing listens on the upstream port: Django is down.
    config = nginx_config(
        tmp_path, django_upstream=f"127.0.0.1:{free_port()}", control_port=free_port()
    )
    return dataclasses.replace(config, **overrides)


def post(url: str) -> int:
    request = urllib.request.Request(url, data=b"call=update_publish&name=x", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_it_renders_every_placeholder(tmp_path):
    text = render_config(config_for(tmp_path))
    assert "{{" not in text
    assert "on_publish http://127.0.0.1:" in text


def test_it_refuses_a_log_level_that_would_log_stream_keys(tmp_path):
    with pytest.raises(ValueError, match="stream keys"):
        render_config(config_for(tmp_path, error_log_level="info"))


def test_it_refuses_an_empty_callback_secret(tmp_path):
    with pytest.raises(ValueError, match="callback_secret"):
        render_config(config_for(tmp_path, callback_secret=""))


@pytest.fixture
def nginx_without_django(tmp_path):
    config = config_for(tmp_path)
    process = start_private_nginx(config)
    yield config
    stop_private_nginx(process)


def test_heartbeats_are_answered_while_django_is_down(nginx_without_django):
    control = f"http://127.0.0.1:{nginx_without_django.control_port}"
    # A failed on_update would drop the publisher: nginx answers it itself.
    assert post(f"{control}/internal/rtmp/on-update?secret=x") == 200
    # A publish cannot be authorised without Django: refused.
    assert post(f"{control}/internal/rtmp/on-publish?secret=x") == 502


def test_the_public_server_never_reaches_the_callbacks(nginx_without_django):
    public = f"http://{nginx_without_django.http_listen}"
    assert post(f"{public}/internal/rtmp/on-publish?secret=x") == 404
    assert post(f"{public}/internal/rtmp/on-update?secret=x") == 404


@pytest.fixture
def nginx_with_django(live_server, tmp_path, transactional_db):
    """nginx in front of a running Django, with files on disk that must not all be served."""
    config = config_for(tmp_path, django_upstream=live_server.url.removeprefix("http://"))
    hls = Path(config.hls_path)
    hls.mkdir(parents=True)
    for name in ("alice.m3u8", "alice-1700000000.ts", "alice.txt", "ALICE.m3u8", "a.m3u8"):
        (hls / name).write_text(f"file {name} on disk\n")
    process = start_private_nginx(config)
    yield config
    stop_private_nginx(process)


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


NGINX_404 = b"<center>nginx</center>"


def test_the_public_server_serves_channel_playlists_and_segments(nginx_with_django):
    public = f"http://{nginx_with_django.http_listen}"
    assert fetch(public + "/hls/alice.m3u8") == (200, b"file alice.m3u8 on disk\n")
    assert fetch(public + "/hls/alice-1700000000.ts") == (
        200,
        b"file alice-1700000000.ts on disk\n",
    )


@pytest.mark.parametrize("path", ["/hls/", "/hls/alice.txt", "/hls/ALICE.m3u8", "/hls/a.m3u8"])
def test_the_public_server_serves_only_channel_playlists_and_segments(nginx_with_django, path):
    public = f"http://{nginx_with_django.http_listen}"
    # The file exists on disk: nginx itself refuses the name (its own 404, not Django's).
    status, body = fetch(public + path)
    assert status == 404
    assert NGINX_404 in body
    assert b"on disk" not in body


def test_a_path_climbing_out_of_hls_reaches_only_django(nginx_with_django):
    public = f"http://{nginx_with_django.http_listen}"
    # nginx normalises "/hls/../nginx.conf" to "/nginx.conf", which is Django's 404 page.
    status, body = fetch(public + "/hls/../nginx.conf")
    assert status == 404
    assert b"Nothing here" in body  # templates/404.html
    assert b"worker_processes" not in body
