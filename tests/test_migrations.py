"""Migrations that change more than the models: the old database cache table goes."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

drop_cache = importlib.import_module("accounts.migrations.0002_drop_echo_cache")


def tables() -> list[str]:
    return connection.introspection.table_names()


@pytest.mark.django_db(transaction=True)
def test_the_old_cache_table_is_dropped_and_a_fresh_install_has_none():
    assert "echo_cache" not in tables()  # a fresh database never had one
    with connection.cursor() as cursor:
        # As `createcachetable` left it on installs from before Redis (the relevant part).
        cursor.execute(
            "CREATE TABLE echo_cache (cache_key varchar(255) NOT NULL PRIMARY KEY,"
            " value text NOT NULL, expires datetime NOT NULL)"
        )
    assert "echo_cache" in tables()

    for _ in range(2):  # the second time there is nothing to drop: no error
        with connection.schema_editor() as editor:
            drop_cache.drop_echo_cache(apps, editor)
        assert "echo_cache" not in tables()
