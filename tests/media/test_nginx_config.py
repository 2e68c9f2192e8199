"""deploy/nginx.conf.template: rendering, and the routes a real nginx makes of it."""

import dataclasses
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from echo.settings import control_server
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


def server_blocks(text: str) -> list[str]:
    """The http block's server {} blocks, in order."""
    http = text[text.index("\nhttp {") :]
    return ["server {" + block for block in http.split("server {")[1:]]


def test_without_a_certificate_the_site_is_plain_http_only(tmp_path):
    text = render_config(config_for(tmp_path))

    assert "ssl" not in text
    public, control = server_blocks(text)
    assert "proxy_pass http://django;" in public
    assert "limit_conn per_address 100;" in public
    assert "limit_conn" not in control


def test_with_a_certificate_plain_http_only_redirects_and_answers_acme(tmp_path):
    config = config_for(
        tmp_path,
        tls_certificate="/etc/echo/cert.pem",
        tls_certificate_key="/etc/echo/key.pem",
        https_listen="8443",
        acme_webroot="/srv/acme",
    )
    plain, site, control = server_blocks(render_config(config))

    assert f"listen {config.http_listen};" in plain
    assert "proxy_pass" not in plain
    assert "root /srv/acme;" in plain
    assert "return 301 https://$host:8443$request_uri;" in plain
    assert "listen 8443 ssl http2;" in site
    assert "ssl_certificate /etc/echo/cert.pem;" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "limit_conn per_address" in plain and "limit_conn per_address" in site
    # nginx-rtmp's callbacks stay on the loopback server, plain HTTP.
    assert "ssl" not in control and "/internal/rtmp/" in control


def test_the_default_https_port_is_left_out_of_the_redirect(tmp_path):
    config = config_for(tmp_path, tls_certificate="c", tls_certificate_key="k", https_listen="443")
    assert "return 301 https://$host$request_uri;" in render_config(config)


def test_a_certificate_without_an_https_listen_is_refused(tmp_path):
    config = config_for(tmp_path, tls_certificate="c", tls_certificate_key="k", https_listen="")
    with pytest.raises(ValueError, match="https_listen"):
        render_config(config)


def test_connections_stay_below_the_descriptor_limit(tmp_path):
    with pytest.raises(ValueError, match="worker_rlimit_nofile"):
        render_config(config_for(tmp_path, worker_connections=20000))


def test_the_config_comes_from_the_settings_django_runs_with(settings, tmp_path):
    settings.ECHO_HTTP_PORT = 8080
    settings.ECHO_RTMP_PORT = 1936
    settings.ECHO_CONTROL_PORT = 9099
    settings.ECHO_DJANGO_PORT = 9001
    settings.ECHO_HLS_PATH = tmp_path / "hls"
    settings.ECHO_THUMBS_PATH = tmp_path / "previews"
    settings.ECHO_NGINX_PREFIX = tmp_path / "nginx"
    settings.ECHO_RTMP_CALLBACK_SECRET = "s3cret"

    config = NginxConfig.from_settings(rtmp_port=1999)

    assert config.http_listen == "8080"
    assert config.rtmp_port == 1999
    assert config.control_port == 9099
    assert config.django_upstream == "127.0.0.1:9001"
    assert config.hls_path == str(tmp_path / "hls")
    assert config.thumbs_path == str(tmp_path / "previews")
    assert config.prefix == str(tmp_path / "nginx")
    assert config.https_listen == ""


def test_from_settings_refuses_an_unknown_field():
    with pytest.raises(TypeError, match="http_port"):
        NginxConfig.from_settings(http_port=80)


def test_the_command_renders_the_settings_and_its_flags_override_them(settings, tmp_path, capsys):
    settings.ECHO_RTMP_CALLBACK_SECRET = "s3cret"
    settings.ECHO_HLS_PATH = tmp_path / "hls"
    settings.ECHO_DJANGO_PORT = 9001

    call_command("nginx_config", "--prefix", str(tmp_path), "--http-listen", "8081", "--stdout")

    text = capsys.readouterr().out
    assert f"hls_path {tmp_path}/hls;" in text
    assert "server 127.0.0.1:9001;" in text
    assert "listen 8081;" in text


def test_another_template_can_be_rendered(tmp_path):
    template = tmp_path / "experiment.template"
    template.write_text("# {{ rtmp_port }} {{ hls_fragment }}\n")

    text = render_config(config_for(tmp_path, template=str(template), rtmp_port=1999))

    assert text == "# 1999 400ms\n"


@pytest.mark.parametrize(
    ("url", "port", "expected"),
    [
        ("", "", ("http://127.0.0.1:8099", 8099)),
        ("", "9000", ("http://127.0.0.1:9000", 9000)),
        ("http://127.0.0.1:9100", "", ("http://127.0.0.1:9100", 9100)),
        ("http://127.0.0.1:9100", "9100", ("http://127.0.0.1:9100", 9100)),
    ],
)
def test_the_control_url_and_port_are_one_value(monkeypatch, url, port, expected):
    monkeypatch.delenv("ECHO_CONTROL_PORT", raising=False)
    if port:
        monkeypatch.setenv("ECHO_CONTROL_PORT", port)
    assert control_server(url, port) == expected


@pytest.mark.parametrize(
    ("url", "port"),
    [("http://127.0.0.1:9100", "9101"), ("http://example.com:9100", ""), ("http://127.0.0.1", "")],
)
def test_a_control_url_and_port_that_disagree_are_refused(url, port):
    with pytest.raises(ImproperlyConfigured, match="ECHO_"):
        control_server(url, port)


def test_several_django_servers_become_one_upstream(settings, tmp_path):
    settings.ECHO_DJANGO_UPSTREAMS = ["127.0.0.1:9001", "10.0.0.2:8001", "unix:/run/echo/web.sock"]
    settings.ECHO_RTMP_CALLBACK_SECRET = "s3cret"

    text = render_config(NginxConfig.from_settings(prefix=str(tmp_path), thumbs_path="/t"))

    upstream = text[text.index("upstream django {") :].split("}")[0]
    assert upstream.split()[3:] == [
        "server", "127.0.0.1:9001;", "server", "10.0.0.2:8001;",
        "server", "unix:/run/echo/web.sock;",
    ]  # fmt: skip


def test_without_a_list_the_upstream_is_the_django_port(settings):
    settings.ECHO_DJANGO_UPSTREAMS = []
    settings.ECHO_DJANGO_PORT = 9001
    assert NginxConfig.from_settings().django_upstream == "127.0.0.1:9001"


@pytest.mark.parametrize(
    "upstream", ["", "127.0.0.1", "127.0.0.1:80; include /etc/passwd", "a:1 backup", "unix:"]
)
def test_it_refuses_a_django_upstream_nginx_would_misread(tmp_path, upstream):
    with pytest.raises(ValueError, match="django"):
        render_config(config_for(tmp_path, django_upstream=upstream))


def test_the_per_address_limit_comes_from_the_settings(settings, tmp_path):
    settings.ECHO_HTTP_CONNECTIONS_PER_ADDRESS = 5000
    settings.ECHO_RTMP_CALLBACK_SECRET = "s3cret"
    config = NginxConfig.from_settings(prefix=str(tmp_path), thumbs_path="/t")

    public, control = server_blocks(render_config(config))

    assert "limit_conn per_address 5000;" in public
    assert "limit_conn" not in control
