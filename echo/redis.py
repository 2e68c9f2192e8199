"""Redis, the state every web server shares: a private instance for local runs and tests
(started like the private nginx, on a unix socket under a directory of its own), and the
one client the project's own Redis reads and writes go through."""

import functools
import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path

import redis
from django.conf import settings

log = logging.getLogger(__name__)

# What "Redis does not answer" looks like to redis-py (BusyLoadingError is a
# ConnectionError); any other RedisError is a bug and is raised.
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError)
WARN_EVERY_SECONDS = 30.0


def private_redis_url(directory: Path) -> str:
    return f"unix://{Path(directory).resolve() / 'redis.sock'}"


def start_private_redis(directory: Path, *, timeout: float = 10.0) -> subprocess.Popen:
    """Start redis-server on a unix socket in `directory` (no TCP port, no password: only
    this user can reach the socket) without persistence: everything in it is either
    short-lived (limits, presence) or stored in the database as well (chat history)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    socket_path = directory / "redis.sock"
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            binary,
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            "--logfile", str(directory / "redis.log"),
            # Thousands of chat WebSockets each hold a pub/sub subscription's share.
            "--maxclients", "10000",
        ],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return process
        except redis.RedisError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_private_redis(process)
                log = directory / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server did not start in {directory}:\n{tail}") from None
            time.sleep(0.05)
        finally:
            client.close()


def stop_private_redis(process: subprocess.Popen, *, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_outage_lock = threading.Lock()
_outage = {"warned_at": float("-inf"), "unreported": 0}


def report_unavailable(exc: Exception, *, consequence: str) -> None:
    """Log that Redis does not answer: once per WARN_EVERY_SECONDS per process, with the
    number of failures since, so an outage under load is a line every 30 s, not a flood.
    Not the URL: it may carry a password."""
    now = time.monotonic()
    with _outage_lock:
        _outage["unreported"] += 1
        if now - _outage["warned_at"] < WARN_EVERY_SECONDS:
            return
        failures, _outage["unreported"] = _outage["unreported"], 0
        _outage["warned_at"] = now
    log.warning(
        "Redis does not answer (%s: %s); %s [%d failure(s) since the last warning]",
        type(exc).__name__,
        exc,
        consequence,
        failures,
    )


@functools.cache
def _client(url: str) -> redis.Redis:
    # Short timeouts: with Redis down, a page must render late by a fraction of a second,
    # not hang.
    return redis.Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
    )


def client() -> redis.Redis:
    """The shared synchronous client for REDIS_URL (one connection pool per process)."""
    return _client(settings.REDIS_URL)
