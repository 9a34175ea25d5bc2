"""GIN index on failure modes' signal keys (PostgreSQL only), so the review page's "matching
failure modes" (``signal_keys ?| reason codes``) reads the index instead of every entry."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX catalog_failuremode_signal_keys_gin "
            "ON catalog_failuremode USING gin (signal_keys)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_failuremode_signal_keys_gin")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_search_at_scale")]

    operations = [migrations.RunPython(forwards, backwards)]
