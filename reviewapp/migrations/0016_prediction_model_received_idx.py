"""An index on a model's predictions by time received. The prediction table is the busiest
in the system: on PostgreSQL the index is built CONCURRENTLY (no lock on ingest while it
builds), so this migration runs outside a transaction; elsewhere it is a plain index."""

from django.db import migrations, models

NAME = "prediction_model_received_idx"
INDEX = models.Index(fields=["model", "received_at"], name=NAME)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} "
            "ON reviewapp_prediction (model_id, received_at)"
        )
    else:
        schema_editor.add_index(apps.get_model("reviewapp", "Prediction"), INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
    else:
        schema_editor.remove_index(apps.get_model("reviewapp", "Prediction"), INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reviewapp", "0015_reviewitem_requeue_defer_exclusion"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="prediction", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
