"""Django restarted and the database gone, during a real broadcast: Django runs as a
separate gunicorn process here, so it can be stopped while nginx and ffmpeg go on."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from streams.models import Broadcast
from tests.streaming import CALLBACK_SECRET, free_port, nginx_config, running_rtmp, wait_for

pytestmark = [pytest.mark.streaming]

BASE_DIR = Path(django_settings.BASE_DIR)


class Gunicorn:
    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "echo.wsgi", "-b", self.address, "-w", "2"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._listening, timeout=20, message="gunicorn to listen")

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


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
    env.update(
        SECRET_KEY="restart-tests-secret-key",
        ECHO_RTMP_CALLBACK_SECRET=CALLBACK_SECRET,
        ECHO_NGINX_CONTROL_URL=settings.ECHO_NGINX_CONTROL_URL,
        ECHO_HLS_PATH=str(tmp_path / "hls"),
        ECHO_STATIC_MANIFEST="false",
    )
    django = Gunicorn(env)
    django.start()
    config = nginx_config(tmp_path, django_upstream=django.address, control_port=control_port)
    try:
        with running_rtmp(config) as server:
            server.django = django
            yield server
    finally:
        django.stop()


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
    if connection.vendor != "sqlite":
        pytest.skip("the database outage is simulated by moving the SQLite file away")
    publisher = stack.publish(alice.channel.stream_key)
    wait_for(lambda: live_broadcasts(alice.channel), timeout=15, message="on_publish")
    database = Path(connection.settings_dict["NAME"])
    connection.close()
    hidden = database.with_suffix(".away")
    shutil.move(database, hidden)
    try:
        refused = stack.publish(bob.channel.stream_key)
        assert refused.wait(timeout=15) != 0
        time.sleep(11)  # at least one on_update without a database
        assert publisher.poll() is None
    finally:
        database.unlink(missing_ok=True)  # the empty file a failed connection made
        shutil.move(hidden, database)
    assert not live_broadcasts(bob.channel)
    assert [b.client_id for b in Broadcast.objects.all()] == [
        live_broadcasts(alice.channel)[0].client_id
    ]
    # Recovered: bob can go live now.
    stack.publish(bob.channel.stream_key)
    wait_for(lambda: live_broadcasts(bob.channel), timeout=15, message="bob's publish")
    assert publisher.poll() is None
