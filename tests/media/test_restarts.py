"""Django restarted and the database gone, during a real broadcast: Django runs as a
separate gunicorn process here, so it can be stopped while nginx and ffmpeg go on."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from streams.media.nginx import port_open
from streams.models import Broadcast
from tests.outage import TcpProxy, database_outage, mysql_upstream
from tests.records import record_fault
from tests.streaming import CALLBACK_SECRET, free_port, nginx_config, running_rtmp, wait_for

pytestmark = [pytest.mark.streaming]

BASE_DIR = Path(django_settings.BASE_DIR)


class Gunicorn:
    def __init__(self, env: dict[str, str], log_path: Path | None = None):
        self.port = free_port()
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "echo.wsgi", "-b", self.address, "-w", "2"]
            # The path only (%(U)s): callback URLs may carry the callback secret.
            + ["--access-logfile", "-", "--access-logformat", "%(m)s %(U)s %(s)s"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=log,
        )
        if self.log_path:
            log.close()
        wait_for(self._listening, timeout=20, message="gunicorn to listen")

    def _listening(self) -> bool:
        return port_open(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


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


@pytest.fixture
def stack(transactional_db, settings, tmp_path):
    """nginx-rtmp in front of a gunicorn Django on the test database."""
    control_port = free_port()
    settings.ECHO_NGINX_CONTROL_URL = f"http://127.0.0.1:{control_port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DB", "DATABASE_URL"))
    }
    env.update(database_env())
    proxy = None
    if connection.vendor == "mysql":
        # Django reaches MariaDB through a proxy the outage test can cut.
        proxy = TcpProxy(mysql_upstream(connection.settings_dict))
        env.update(DB_HOST="127.0.0.1", DB_PORT=str(proxy.port))
    env.update(
        SECRET_KEY="restart-tests-secret-key",
        ECHO_RTMP_CALLBACK_SECRET=CALLBACK_SECRET,
        ECHO_NGINX_CONTROL_URL=settings.ECHO_NGINX_CONTROL_URL,
        ECHO_HLS_PATH=str(tmp_path / "hls"),
        ECHO_STATIC_MANIFEST="false",
    )
    django = Gunicorn(env, log_path=tmp_path / "django.log")
    django.start()
    config = nginx_config(tmp_path, django_upstream=django.address, control_port=control_port)
    try:
        with running_rtmp(config) as server:
            server.django = django
            server.database_proxy = proxy
            yield server
    finally:
        django.stop()
        if proxy:
            proxy.close()


def live_broadcasts(channel):
    return list(channel.broadcasts.filter(ended_at__isnull=True))


def test_a_django_restart_during_a_broadcast_loses_nothing(stack, alice):
    publisher = stack.publish(alice.channel.stream_key)
    wait_for(lambda: live_broadcasts(alice.channel), timeout=15, message="on_publish")

    stack.django.stop()
    time.sleep(10)  # down across at least one on_update (every 10 s)
    restarted_at = timezone.now()
    stack.django.start()

    def heartbeat_after_restart():
        broadcasts = live_broadcasts(alice.channel)
        return broadcasts and broadcasts[0].last_seen_at > restarted_at

    wait_for(heartbeat_after_restart, timeout=20, interval=0.5, message="a heartbeat")
    assert publisher.poll() is None
    assert alice.channel.broadcasts.count() == 1
    assert stack.playlist_ready("alice")


def test_without_the_database_publishes_are_refused_and_broadcasts_go_on(stack, alice, bob):
    publisher = stack.publish(alice.channel.stream_key)
    wait_for(lambda: live_broadcasts(alice.channel), timeout=15, message="on_publish")
    alices_client_id = live_broadcasts(alice.channel)[0].client_id
    django_log = stack.django.log
    lines_before = len(django_log().splitlines())

    def logged_since_the_cut(text: str) -> bool:
        return any(text in line for line in django_log().splitlines()[lines_before:])

    with database_outage(connection, stack.database_proxy):
        cut_at = time.monotonic()
        refused = stack.publish(bob.channel.stream_key)
        assert refused.wait(timeout=15) != 0
        for line in ("POST /internal/rtmp/on-publish 503", "publish refused: database unavailable"):
            wait_for(lambda line=line: logged_since_the_cut(line), timeout=10, message=line)
        # nginx's next on_update (every 10 s) reaches Django, which cannot record it
        # and keeps the publisher anyway.
        wait_for(
            lambda: logged_since_the_cut("heartbeat not recorded: database unavailable"),
            timeout=30,
            interval=0.5,
            message="a heartbeat during the outage",
        )
        assert logged_since_the_cut("POST /internal/rtmp/on-update 200")
        assert publisher.poll() is None
        outage_seconds = time.monotonic() - cut_at
    assert not logged_since_the_cut("POST /internal/rtmp/on-update 5")
    assert CALLBACK_SECRET not in django_log()

    # Nothing was written for bob; alice's broadcast is the one from before the outage.
    assert not live_broadcasts(bob.channel)
    assert [b.client_id for b in Broadcast.objects.all()] == [alices_client_id]
    # Recovered: bob can go live now, and alice is still on.
    recovered_at = time.monotonic()
    stack.publish(bob.channel.stream_key)
    wait_for(lambda: live_broadcasts(bob.channel), timeout=15, message="bob's publish")
    record_fault(
        f"database unavailable ({connection.vendor})",
        "publish accepted again after the database came back, after",
        time.monotonic() - recovered_at,
        outage_seconds=round(outage_seconds, 1),
        publishers_dropped=0 if publisher.poll() is None else 1,
    )
    assert publisher.poll() is None
    assert [b.client_id for b in live_broadcasts(alice.channel)] == [alices_client_id]
