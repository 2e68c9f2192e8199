"""The management commands and the production units that run them: run_platform, demo,
reconcile_broadcasts, nginx_config."""

import configparser
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command

from accounts.models import User
from streams.management.commands import run_platform
from streams.management.commands.demo import demo_channel_ensure
from streams.media.nginx import port_open
from streams.models import Broadcast
from tests.streaming import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ROOT / "deploy" / "production"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(PRODUCTION / name)
    return parser


def test_the_production_units_run_the_documented_commands():
    nginx = unit("echo-nginx.service")["Service"]["ExecStart"]
    assert nginx == (
        "/usr/sbin/nginx -p /var/lib/echo/nginx -c /etc/echo/nginx.conf -g 'daemon off;'"
    )
    web = unit("echo-web.service")["Service"]
    assert web["ExecStart"].startswith(
        "/opt/echo/.venv/bin/gunicorn echo.asgi:application"
        " --worker-class echo.workers.EchoUvicornWorker "
    )
    # The same variable nginx's upstream is rendered from (manage.py nginx_config).
    assert "--bind 127.0.0.1:${ECHO_DJANGO_PORT}" in web["ExecStart"]
    assert web["EnvironmentFile"] == "/etc/echo/echo.env"
    # The web service starts after Redis, and finds it where echo.env says.
    assert "echo-redis.service" in unit("echo-web.service")["Unit"]["Wants"]
    redis_unit = unit("echo-redis.service")["Service"]
    env = (PRODUCTION / "echo.env.example").read_text().splitlines()
    [redis_url] = [line.split("=", 1)[1] for line in env if line.startswith("REDIS_URL=")]
    socket = redis_url.removeprefix("unix://")
    assert f"--unixsocket {socket} " in redis_unit["ExecStart"]
    assert "--port 0 " in redis_unit["ExecStart"] and '--save "" ' in redis_unit["ExecStart"]
    assert socket.startswith(f"/run/{redis_unit['RuntimeDirectory']}/")
    assert not any(line.startswith("ECHO_VIEWERS_PATH=") for line in env)
    # The job worker (replays, clips) runs the command run_platform runs, after Redis.
    worker = unit("echo-worker.service")
    assert worker["Service"]["ExecStart"] == (
        "/opt/echo/.venv/bin/python /opt/echo/manage.py run_worker"
    )
    assert "echo-redis.service" in worker["Unit"]["Wants"]
    assert worker["Service"]["EnvironmentFile"] == "/etc/echo/echo.env"
    reconcile = unit("echo-reconcile.service")["Service"]
    assert reconcile["ExecStart"].endswith("manage.py reconcile_broadcasts --loop --interval 5")
    assert reconcile["EnvironmentFile"] == "/etc/echo/echo.env"


def test_the_production_nginx_config_renders_and_passes_nginx_t(tmp_path):
    # The documented command, with the prefix moved somewhere writable.
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "true",
        "ECHO_RTMP_CALLBACK_SECRET": "production-like-secret",
    }
    command = [sys.executable, "manage.py", "nginx_config", "--prefix", str(tmp_path / "nginx")]
    command += ["--hls-path", str(tmp_path / "hls"), "--http-listen", "80"]
    command += ["--rtmp-port", "1935", "--user", "www-data", "--stdout"]
    rendered = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    assert "user www-data;" in rendered.stdout
    conf = tmp_path / "nginx.conf"
    conf.write_text(rendered.stdout)
    for directory in ("logs", "tmp"):  # as echo-nginx.service's ExecStartPre does
        (tmp_path / "nginx" / directory).mkdir(parents=True)
    checked = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path / "nginx"), "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def test_reconcile_broadcasts_ends_a_silent_broadcast(alice, go_live, no_nginx, capsys):
    broadcast = go_live(alice, minutes_ago=5)
    call_command("reconcile_broadcasts")
    assert "ended 1 lost broadcast(s)" in capsys.readouterr().out
    broadcast.refresh_from_db()
    assert broadcast.end_reason == Broadcast.EndReason.LOST


def test_the_demo_user_is_created_once_with_a_verified_email(db):
    channel = demo_channel_ensure()
    assert demo_channel_ensure() == channel
    user = User.objects.get(username="demo")
    assert not user.has_usable_password()
    assert EmailAddress.objects.get(user=user).verified
    assert channel.title


def test_the_demo_never_takes_over_a_real_user_named_demo(db):
    User.objects.create_user("demo", "someone@example.org", "pw")
    with pytest.raises(CommandError):
        demo_channel_ensure()


class Platform:
    """`manage.py run_platform` as a child process on free ports, with its own database."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None):
        self.tmp_path = tmp_path
        self.http_port, self.rtmp_port = free_port(), free_port()
        self.django_port, self.control_port = free_port(), free_port()
        self.database = tmp_path / "db.sqlite3"
        self.env = {
            "PATH": os.environ["PATH"],
            "SECRET_KEY": "run-platform-test-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ECHO_RTMP_CALLBACK_SECRET": "run-platform-test-callback-secret",
            "ECHO_STATIC_MANIFEST": "false",
            "SECURE_COOKIES": "false",
            "SECURE_HSTS_SECONDS": "0",
            "DB": "sqlite",
            "DB_NAME": str(self.database),
            "ECHO_HTTP_PORT": str(self.http_port),
            "ECHO_RTMP_PORT": str(self.rtmp_port),
            "ECHO_DJANGO_PORT": str(self.django_port),
            "ECHO_RTMP_INGEST_PORT": str(free_port()),
            "ECHO_RTMP_LIVE_PORT": str(free_port()),
            "ECHO_NGINX_CONTROL_URL": f"http://127.0.0.1:{self.control_port}",
            "ECHO_HLS_PATH": str(tmp_path / "hls"),
            "ECHO_REDIS_DIR": str(tmp_path / "redis"),
            "SITE_URL": f"http://localhost:{self.http_port}",
            "ECHO_RTMP_PUBLIC_URL": f"rtmp://localhost:{self.rtmp_port}/ingest",
            # The suite's time: a 720p demo and its transcoder cost a core; on only where a
            # test asks (tests/media/test_renditions.py covers renditions in depth).
            "ECHO_RENDITIONS": "off",
            **(env or {}),
        }
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=self.env, check=True)
        self.redis_socket = tmp_path / "redis" / "redis.sock"
        self.process = subprocess.Popen(
            [
                *manage,
                "run_platform",
                "--workers",
                "1",
                "--nginx-prefix",
                str(tmp_path / "nginx"),
                *args,
            ],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(self._started, timeout=60, message="the run_platform banner")

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace"))

    def _started(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"run_platform exited:\n{self.output}")
        return "Press Ctrl-C to stop." in self.output

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def ports(self) -> list[int]:
        return [self.http_port, self.rtmp_port, self.django_port, self.control_port]

    def children(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def child(self, word: str) -> int:
        for pid in self.children():
            if word in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        raise AssertionError(f"no child process running {word}")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}") as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def platform_factory(tmp_path):
    platforms = []

    def start(*args: str, env: dict[str, str] | None = None) -> Platform:
        platforms.append(Platform(tmp_path, *args, env=env))
        return platforms[-1]

    yield start
    for platform in platforms:
        platform.stop()


@pytest.mark.streaming
def test_run_platform_serves_the_site_streams_the_demo_and_stops_cleanly(platform_factory):
    # Renditions on, as by default, with one small rung (the suite's time).
    platform = platform_factory(
        "--demo", env={"ECHO_RENDITIONS": "240p30:300k", "ECHO_TRANSCODE_MAX": "1"}
    )
    assert f"http://localhost:{platform.http_port}/" in platform.output
    assert f"rtmp://localhost:{platform.rtmp_port}/ingest" in platform.output
    assert platform.get("/")[0] == 200

    def demo_playlist() -> bool:
        status, body = platform.get("/hls/demo.m3u8")
        return status == 200 and b".ts" in body

    try:
        wait_for(demo_playlist, timeout=45, message="the demo's HLS playlist")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{platform.output}") from None
    # The demo is recorded (nginx's FLV, started by Django), for its replay by the worker.
    recordings = platform.tmp_path / "recordings"
    wait_for(lambda: list(recordings.glob("demo-*.flv")), timeout=15, message="a recording")

    # The demo's URL becomes its master playlist: the source (720p) and 240p, each playing.
    def demo_master() -> list[str]:
        status, body = platform.get("/hls/demo.m3u8")
        levels = [line for line in body.decode().splitlines() if line.endswith(".m3u8")]
        return levels if status == 200 and len(levels) == 2 else []

    levels = wait_for(demo_master, timeout=30, message="the demo's master playlist")
    assert levels == ["demo.src.m3u8", "demo.240p30.m3u8"]
    assert all(b".ts" in platform.get(f"/hls/{level}")[1] for level in levels)
    transcoders = platform.tmp_path / "nginx" / "transcoders"
    assert "source 1280x720" in (transcoders / "demo.log").read_text()
    children = platform.children()
    assert len(children) == 5  # redis, gunicorn, worker, nginx, demo
    assert platform.child("run_worker") in children
    # The Redis run_platform started, on the socket REDIS_URL names by default.
    with redis.Redis(unix_socket_path=str(platform.redis_socket)) as private_redis:
        assert private_redis.ping()
        assert platform.child("redis-server") in children

    assert platform.stop() == 0
    assert "echo.tv stopped." in platform.output
    assert all(gone(pid) for pid in children)
    assert not any(port_open(port) for port in platform.ports)
    assert not platform.redis_socket.exists()
    # nginx's grandchildren too: the transcoder and its ffmpeg stopped with the broadcast.
    renditions = f"127.0.0.1:{platform.env['ECHO_RTMP_LIVE_PORT']}/renditions/"
    for pattern in (str(transcoders), renditions):
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        assert found.stdout == "", pattern
    with sqlite3.connect(platform.database) as db:
        (key,) = db.execute(
            "SELECT stream_key FROM streams_channel JOIN accounts_user"
            " ON accounts_user.id = streams_channel.user_id WHERE username = 'demo'"
        ).fetchone()
    assert key not in platform.output


@pytest.mark.streaming
def test_run_platform_stops_everything_and_fails_when_a_child_dies(platform_factory):
    platform = platform_factory()
    nginx = platform.child("nginx")
    os.kill(platform.child("gunicorn"), signal.SIGTERM)
    assert platform.process.wait(timeout=60) == 1
    assert "gunicorn exited unexpectedly" in platform.output
    assert gone(nginx)
    assert not any(port_open(port) for port in platform.ports)


@pytest.mark.streaming
def test_run_platform_starts_its_redis_again_when_it_dies(platform_factory):
    # Pages and publishes outlive Redis (limits fail open), so its death is no reason to
    # take the site down: it is started again, and the shared state works again.
    platform = platform_factory()
    gunicorn, nginx, first = (
        platform.child(word) for word in ("gunicorn", "nginx", "redis-server")
    )
    os.kill(first, signal.SIGKILL)

    def restarted() -> int | None:
        try:
            pid = platform.child("redis-server")
        except AssertionError:
            return None
        return pid if pid != first else None

    wait_for(restarted, timeout=30, message="a new redis-server")
    with redis.Redis(unix_socket_path=str(platform.redis_socket)) as private_redis:
        wait_for(private_redis.ping, timeout=10, message="the new Redis answering")
    assert "Redis exited unexpectedly; starting it again" in platform.output
    assert platform.process.poll() is None
    assert not gone(gunicorn) and not gone(nginx)
    assert platform.get("/")[0] == 200


def test_run_platform_refuses_to_start_a_second_redis_on_a_socket_in_use(settings, redis_server):
    # Another run's Redis answers on the socket: starting a second would steal it.
    settings.ECHO_REDIS_DIR = redis_server.directory
    settings.REDIS_URL = redis_server.url
    command = run_platform.Command()
    command.children = []
    with pytest.raises(CommandError, match="already running"):
        command._start_redis()
    assert command.children == []
    assert redis_server.client().ping()


def test_the_documented_edge_config_renders_and_passes_nginx_t(tmp_path):
    edge = unit("echo-edge.service")["Service"]
    assert edge["ExecStart"] == (
        "/usr/sbin/nginx -p /var/lib/echo/edge -c /etc/echo/edge.conf -g 'daemon off;'"
    )
    # A name nginx -t can resolve here (no DNS): localhost, from /etc/hosts.
    env = {"PATH": os.environ["PATH"], "DEBUG": "true", "ECHO_EDGE_ORIGIN": "localhost:80"}
    command = [sys.executable, "manage.py", "edge_config", "--prefix", str(tmp_path / "edge")]
    command += ["--listen", "80", "--origin-host", "echo.example", "--user", "www-data"]
    command += ["--stdout"]
    rendered = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    assert "server localhost:80 " in rendered.stdout
    assert "proxy_set_header Host echo.example;" in rendered.stdout
    conf = tmp_path / "edge.conf"
    conf.write_text(rendered.stdout)
    for directory in ("logs", "tmp"):  # as echo-edge.service's ExecStartPre does
        (tmp_path / "edge" / directory).mkdir(parents=True)
    checked = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path / "edge"), "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def test_edge_config_without_an_origin_says_what_to_set(tmp_path):
    command = [sys.executable, "manage.py", "edge_config", "--stdout"]
    env = {"PATH": os.environ["PATH"], "DEBUG": "true"}
    rendered = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert rendered.returncode == 1
    assert "set ECHO_EDGE_ORIGIN" in rendered.stderr
