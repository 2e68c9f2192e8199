"""Django served as in production, behind a real nginx rendered from deploy/:

- `asgi_site`: echo.asgi.application on uvicorn (configured like echo/workers.py) in a
  thread of the test process, so it sees the test database and the test's settings, the
  way pytest-django's live_server does for WSGI. Pages, /hls/ and /ws/ all go through nginx.
- `web_servers(n)`: n separate gunicorn + uvicorn PROCESSES behind one nginx, on the test
  database and the session's Redis: what one process keeps in memory, the others never see.

The test database is a file (tests/conftest.py sets SQLite's TEST NAME), so threads and
other processes open the same database; on MariaDB they open the test database by name.
"""

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from django.conf import settings as django_settings
from django.db import connection

from echo.workers import EchoUvicornWorker
from streams.media.nginx import NginxConfig, port_open
from tests.streaming import (
    CALLBACK_SECRET,
    RtmpServer,
    free_port,
    nginx_config,
    running_rtmp,
    wait_for,
)

BASE_DIR = Path(django_settings.BASE_DIR)


@dataclass
class Site:
    """The site as a browser sees it: nginx's URL, and the Django server(s) behind it."""

    rtmp: RtmpServer
    servers: list = field(default_factory=list)

    @property
    def nginx(self) -> NginxConfig:
        return self.rtmp.config

    @property
    def url(self) -> str:
        return self.rtmp.http_url

    @property
    def origin(self) -> str:
        """What a browser on this site sends as Origin."""
        return self.url

    def ws_url(self, path: str) -> str:
        return "ws" + self.url.removeprefix("http") + path

    def get(self, path: str) -> tuple[int, bytes]:
        return self.rtmp.get(path)


class UvicornThread:
    """uvicorn serving an ASGI application from a thread of this process."""

    def __init__(self, application):
        self.port = free_port()
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            **EchoUvicornWorker.CONFIG_KWARGS,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=20, message="uvicorn to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        # Django's connections opened by the server's threads belong to them; they end
        # with the threads' requests (request_finished closes them).


def point_settings_at(settings, config: NginxConfig, tmp_path: Path) -> None:
    """Django's nginx-facing settings, as the private nginx was rendered."""
    settings.ECHO_RTMP_CALLBACK_SECRET = CALLBACK_SECRET
    settings.ECHO_CONTROL_PORT = config.control_port
    settings.ECHO_NGINX_CONTROL_URL = f"http://127.0.0.1:{config.control_port}"
    settings.ECHO_HLS_PATH = Path(config.hls_path)
    settings.ECHO_THUMBS_PATH = Path(config.thumbs_path)
    settings.ECHO_RECORDINGS_PATH = Path(config.recordings_path)
    settings.ECHO_REPLAYS_PATH = Path(config.replays_path)


@contextlib.contextmanager
def serving_asgi(settings, tmp_path: Path, **nginx_overrides):
    """asgi_site's body, for tests that need nginx rendered otherwise (TLS)."""
    from echo.asgi import application

    server = UvicornThread(application)
    server.start()
    try:
        config = nginx_config(
            tmp_path, django_upstream=server.address, control_port=free_port(), **nginx_overrides
        )
        point_settings_at(settings, config, tmp_path)
        with running_rtmp(config) as rtmp:
            yield Site(rtmp=rtmp, servers=[server])
    finally:
        server.stop()


@pytest.fixture
def asgi_site(transactional_db, settings, tmp_path):
    """echo.asgi.application (HTTP and WebSockets) on uvicorn, behind nginx from deploy/."""
    with serving_asgi(settings, tmp_path) as site:
        yield site


# --- separate processes ----------------------------------------------------------


def database_env() -> dict[str, str]:
    """Point a separate Django process at this test run's database."""
    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return {"DB": "sqlite", "DB_NAME": database["NAME"]}
    return {
        "DB": "mysql",
        "DB_NAME": database["NAME"],
        "DB_USER": database["USER"],
        "DB_PASSWORD": database["PASSWORD"],
        "DB_HOST": database["HOST"] or "localhost",
        "DB_PORT": str(database["PORT"] or 3306),
    }


class WebServer:
    """One gunicorn with uvicorn workers (echo.workers), as echo-web.service runs it."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 1):
        self.port = free_port()
        self.env = env
        self.log_path = log_path
        self.workers = workers
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "echo.asgi:application"]
        command += ["--worker-class", "echo.workers.EchoUvicornWorker"]
        command += ["--bind", self.address, "--workers", str(self.workers)]
        # uvicorn's access log (method, path, status) into the log: which server answered.
        command += ["--access-logfile", "-"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    def wait_until_listening(self) -> None:
        def listening() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited ({self.process.returncode}):\n{self.log()}")
            return port_open(self.port)

        wait_for(listening, timeout=60, message=f"gunicorn on {self.address}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def web_server_env(settings, redis_url: str) -> dict[str, str]:
    """The test run's environment (./echotv test sets SECRET_KEY and friends) with this
    test's database, Redis and nginx-facing paths."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DB", "DATABASE_URL", "PYTEST", "ECHO_"))
    }
    env.update(database_env())
    env.update(
        DJANGO_SETTINGS_MODULE="echo.settings",
        SECRET_KEY=django_settings.SECRET_KEY,
        REDIS_URL=redis_url,
        ECHO_STATIC_MANIFEST="false",
        ECHO_RTMP_CALLBACK_SECRET=CALLBACK_SECRET,
        ECHO_CONTROL_PORT=str(settings.ECHO_CONTROL_PORT),
        ECHO_HLS_PATH=str(settings.ECHO_HLS_PATH),
        ECHO_THUMBS_PATH=str(settings.ECHO_THUMBS_PATH),
        ECHO_RECORDINGS_PATH=str(settings.ECHO_RECORDINGS_PATH),
        ECHO_REPLAYS_PATH=str(settings.ECHO_REPLAYS_PATH),
        LOG_LEVEL="WARNING",
    )
    return env


@pytest.fixture
def web_servers(transactional_db, settings, tmp_path, redis_server):
    """web_servers(n=2, env=None) -> Site whose .servers are n gunicorn processes behind one
    nginx; env adds settings to the servers' environment."""
    with contextlib.ExitStack() as stack:

        def start(n: int = 2, env: dict[str, str] | None = None, **nginx_overrides) -> Site:
            # nginx's values first: the servers' environment names the same paths and ports.
            config = nginx_config(tmp_path, django_upstream="127.0.0.1:9", control_port=free_port())
            point_settings_at(settings, config, tmp_path)
            env = {**web_server_env(settings, redis_server.url), **(env or {})}
            servers = [WebServer(env, tmp_path / f"web-{index}.log") for index in range(1, n + 1)]
            for server in servers:
                stack.callback(server.stop)
                server.start()
            for server in servers:
                server.wait_until_listening()
            config = dataclasses.replace(
                config,
                django_upstream=",".join(server.address for server in servers),
                **nginx_overrides,
            )
            rtmp = stack.enter_context(running_rtmp(config))
            return Site(rtmp=rtmp, servers=servers)

        yield start
