"""A private redis-server for the whole test session, on a unix socket in a temporary
directory, the same way `run_platform` starts one. Django's cache and the channel layer
point at it, and it is emptied before every test (as the database is rolled back), so
rate limits and presence never leak from one test into the next."""

import tempfile
from pathlib import Path

import pytest
from django.conf import settings as project_settings
from django.test import override_settings

from echo.redis import private_redis_url, start_private_redis, stop_private_redis


class RedisServer:
    """The session's Redis; tests of outages stop and start it (same socket, same URL)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.url = private_redis_url(directory)
        self.process = start_private_redis(directory)

    def stop(self) -> None:
        stop_private_redis(self.process)

    def start(self) -> None:
        if self.process.poll() is None:
            return
        self.process = start_private_redis(self.directory)

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    with tempfile.TemporaryDirectory(prefix="echo-redis-") as directory:
        server = RedisServer(Path(directory))
        settings = override_settings(
            REDIS_URL=server.url,
            CACHES={
                "default": {
                    "BACKEND": project_settings.CACHES["default"]["BACKEND"],
                    "LOCATION": server.url,
                    "KEY_PREFIX": "echo-tests",
                    "OPTIONS": project_settings.CACHES["default"]["OPTIONS"],
                }
            },
            CHANNEL_LAYERS={
                "default": {
                    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                    "CONFIG": {"hosts": [{"address": server.url}]},
                }
            },
        )
        settings.enable()
        try:
            yield server
        finally:
            settings.disable()
            stop_private_redis(server.process)


@pytest.fixture(autouse=True)
def _empty_redis(redis_server):
    """Start every test with an empty, running Redis."""
    redis_server.start()
    with redis_server.client() as client:
        client.flushall()
    yield
    redis_server.start()
