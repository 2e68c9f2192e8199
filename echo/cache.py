"""Django's Redis cache, except that Redis not answering is an outage of the cache, not of
the site.

Everything echo keeps in the cache is a counter of some limit (allauth's login limits,
the failed-publish limit, DRF's throttles). When Redis does not answer, this cache
behaves like Django's DummyCache (it holds nothing: a read misses, a write is dropped,
`add` succeeds, `incr` finds no key) and logs one warning per 30 s per process
(echo.redis.report_unavailable). So every limit fails open: right keys are still
accepted, logins and the API still work, only the counting stops until Redis is back,
and then it resumes by itself. README "Redis" lists each limit's policy.

`add` succeeding matters: allauth takes a lock with `add` and would otherwise wait a
second for it on every login.
"""

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from echo.redis import UNAVAILABLE, report_unavailable

CONSEQUENCE = "the cache is off: rate limits are not counted until it is back"


class RedisCache(DjangoRedisCache):
    def _unavailable(self, exc: Exception) -> None:
        report_unavailable(exc, consequence=CONSEQUENCE)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            return True

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            return default

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            return False

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            return False

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            raise ValueError(f"Key '{key}' not found (Redis does not answer)") from None

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            return []

    def delete_many(self, keys, version=None):
        try:
            super().delete_many(keys, version)
        except UNAVAILABLE as exc:
            self._unavailable(exc)

    def clear(self):
        try:
            return super().clear()
        except UNAVAILABLE as exc:
            self._unavailable(exc)
            return False
