"""Live preview images: the nginx configuration that makes them, and when pages show them."""

import os
import time

import pytest
from django.core.management import call_command

from streams.media import thumbnails
from streams.media.nginx import NginxConfig, render_config
from tests.streaming import nginx_config


@pytest.fixture(autouse=True)
def _thumbs_in_tmp(settings, tmp_path):
    settings.ECHO_THUMBS_PATH = tmp_path / "thumbs"
    settings.ECHO_THUMBS_PATH.mkdir()


def write_thumbnail(name: str, *, age: float = 0) -> None:
    path = thumbnails.thumbs_root() / f"{name}.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    then = time.time() - age
    os.utime(path, (then, then))


def config(tmp_path, **overrides) -> NginxConfig:
    return nginx_config(tmp_path, django_upstream="127.0.0.1:8001", control_port=8099, **overrides)


def rtmp_application(text: str, name: str) -> str:
    start = text.index(f"application {name} {{")
    return text[start : text.index("\n        }", start)]


def test_a_fresh_thumbnail_has_a_versioned_url(settings):
    write_thumbnail("alice")

    url = thumbnails.thumbnail_url("alice")

    assert url.startswith("/thumbs/alice.jpg?v=")


def test_a_missing_or_stale_thumbnail_has_no_url():
    write_thumbnail("bob", age=thumbnails.MAX_AGE_SECONDS + 5)

    assert thumbnails.thumbnail_url("alice") is None
    assert thumbnails.thumbnail_url("bob") is None


def test_the_directory_shows_the_thumbnail_of_a_live_channel(client, alice, go_live):
    go_live(alice)
    write_thumbnail("alice")

    page = client.get("/").content.decode()

    assert '<img class="channel-card-thumb" src="/thumbs/alice.jpg?v=' in page


def test_the_directory_shows_the_placeholder_without_a_thumbnail(client, alice, go_live):
    go_live(alice)

    page = client.get("/").content.decode()

    assert "channel-card-thumb" not in page
    assert "channel-card-initial" in page


def test_nginx_makes_thumbnails_in_the_internal_application_under_the_public_name(tmp_path):
    text = render_config(
        config(tmp_path, thumbs_path="/srv/thumbs", ffmpeg="/opt/ffmpeg", rtmp_live_port=1936)
    )

    live = rtmp_application(text, "live")
    ingest = rtmp_application(text, "ingest")
    assert "exec_push /opt/ffmpeg " in live and "exec" not in ingest
    assert "-i rtmp://127.0.0.1:1936/live/$name" in live
    assert "-skip_frame nokey" in live and "-an" in live and "fps=1/5,scale=320:-2" in live
    assert "-atomic_writing 1 -y /srv/thumbs/$name.jpg;" in live
    assert "exec_publish_done /bin/rm -f /srv/thumbs/$name.jpg;" in live
    assert "alias /srv/thumbs/$thumb_file;" in text


def test_nginx_writes_thumbnails_where_django_reads_them(tmp_path):
    # One setting for both: ECHO_THUMBS_PATH (tmp_path/thumbs, the fixture above).
    text = render_config(NginxConfig.from_settings(callback_secret="s3cret"))

    assert f"{tmp_path}/thumbs/$name.jpg" in text
    assert thumbnails.thumbs_root() == tmp_path / "thumbs"


def test_the_nginx_config_command_takes_a_thumbnail_directory(tmp_path, settings, capsys):
    settings.ECHO_RTMP_CALLBACK_SECRET = "s3cret"

    call_command(
        "nginx_config",
        "--prefix",
        str(tmp_path),
        "--hls-path",
        "/srv/hls",
        "--thumbs-path",
        "/srv/previews",
        "--stdout",
    )

    assert "/srv/previews/$name.jpg" in capsys.readouterr().out
