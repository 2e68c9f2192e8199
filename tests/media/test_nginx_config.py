"""deploy/nginx.conf.template: rendering, and the routes a real nginx makes of it."""

import dataclasses
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streams.media.nginx import (
    NginxConfig,
    render_config,
    start_private_nginx,
    stop_private_nginx,
    write_config,
)
from tests.streaming import CALLBACK_SECRET, free_port, nginx_config

PRODUCTION = Path(__file__).resolve().parents[2] / "deploy" / "production"


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


@pytest.mark.parametrize("secret", ["a$b", 'a"b', "a b", "a;b", "a\nb", "caf\u00e9"])
def test_it_refuses_a_callback_secret_nginx_would_misread(tmp_path, secret):
    # "$" would start an nginx variable inside the quoted header value.
    with pytest.raises(ValueError, match="callback_secret may hold only"):
        render_config(config_for(tmp_path, callback_secret=secret))


def test_the_callback_secret_is_in_no_url_only_in_the_control_servers_header(tmp_path):
    # nginx logs the request line (URL included) of a callback it cannot proxy.
    text = render_config(config_for(tmp_path))
    lines = [line.strip() for line in text.splitlines() if CALLBACK_SECRET in line]
    assert lines == [f'proxy_set_header X-Echo-Callback-Secret "{CALLBACK_SECRET}";']


def test_write_config_makes_the_logs_directory_private(tmp_path):
    config = config_for(tmp_path)
    logs = Path(config.prefix) / "logs"
    logs.mkdir(parents=True)
    logs.chmod(0o755)  # as an older write_config left it
    write_config(config)
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert stat.S_IMODE((Path(config.prefix) / "nginx.conf").stat().st_mode) == 0o600


def test_the_production_unit_keeps_nginx_logs_private():
    lines = (PRODUCTION / "echo-nginx.service").read_text().splitlines()
    # install -d also sets the mode of an existing directory (an upgrade from 755).
    assert "ExecStartPre=/usr/bin/install -d -m 700 /var/lib/echo/nginx/logs" in lines


@pytest.fixture
def nginx_without_django(tmp_path):
    config = config_for(tmp_path)
    process = start_private_nginx(config)
    yield config
    stop_private_nginx(process)


def test_heartbeats_are_answered_while_django_is_down(nginx_without_django):
    control = f"http://127.0.0.1:{nginx_without_django.control_port}"
    # A failed on_update would drop the publisher: nginx answers it itself.
    assert post(f"{control}/internal/rtmp/on-update") == 200
    # A publish cannot be authorised without Django: refused.
    assert post(f"{control}/internal/rtmp/on-publish") == 502


def test_the_public_server_never_reaches_the_callbacks(nginx_without_django):
    public = f"http://{nginx_without_django.http_listen}"
    assert post(f"{public}/internal/rtmp/on-publish") == 404
    assert post(f"{public}/internal/rtmp/on-update") == 404


@pytest.mark.parametrize(
    "path", ["/hls/", "/hls/../nginx.conf", "/hls/alice.txt", "/hls/ALICE.m3u8", "/hls/a.m3u8"]
)
def test_the_public_server_serves_only_channel_playlists_and_segments(nginx_without_django, path):
    public = f"http://{nginx_without_django.http_listen}"
    # "/hls/../nginx.conf" normalises to "/nginx.conf", which goes to Django (down here: 502).
    assert get(public + path) in (400, 404, 502)
