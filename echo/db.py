"""The database's one shared rule for the services modules: a transaction MySQL/MariaDB
ends as a deadlock victim is run again.

nginx sends on_record_done and on_publish_done at the same moment when a broadcast ends;
their transactions lock the recording's, broadcast's and channel's rows in orders the
optimizer picks, and InnoDB ends one of the two with error 1213, "try restarting
transaction" (tests/replays/test_recording_callbacks.py: once or more in 100 ends, 3 runs of
3, on MariaDB).
SQLite serializes transactions and never deadlocks."""

import functools
import logging

from django.db import OperationalError, connection
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

ER_LOCK_DEADLOCK = 1213
# Up to 4 runs in all, 20, 40, 80 ms apart: the other transaction is done by then.
_AGAIN = Retry(
    ExponentialBackoff(cap=0.2, base=0.01), retries=3, supported_errors=(OperationalError,)
)


def _deadlock(exc: Exception) -> bool:
    return bool(exc.args) and exc.args[0] == ER_LOCK_DEADLOCK


def retry_on_deadlock(function):
    """For a service that opens its own transaction: run it again if it was a deadlock's
    victim. Inside a caller's transaction it runs once (the whole transaction was undone:
    only its owner can start it again)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return function(*args, **kwargs)
        return _AGAIN.call_with_retry(
            lambda: function(*args, **kwargs),
            lambda exc: log.info("%s: deadlock, running it again", function.__name__),
            is_retryable=_deadlock,
        )

    return wrapper
