"""The database cache table (`createcachetable`, LOCATION echo_cache) is gone: the cache
is Redis now (echo/cache.py). Installs from before keep a stale table; drop it if present.

In accounts rather than streams only because the table belongs to no app, and the streams
migration history is where the chat models are being added at the same time."""

from django.db import migrations

TABLE = "echo_cache"


def drop_echo_cache(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if TABLE in connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    # Backwards: nothing to restore (createcachetable rebuilds an empty one if ever needed).
    operations = [migrations.RunPython(drop_echo_cache, migrations.RunPython.noop)]
