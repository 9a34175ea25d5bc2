"""The routing inbox by model: a partial index on the waiting rows (status 'received'), which
coalesced routing reads oldest first per model. Built CONCURRENTLY on PostgreSQL (no lock on
ingest while it scans the table), so this migration runs outside a transaction."""

from django.db import migrations, models
from django.db.models import Q

NAME = "prediction_inbox_idx"
INDEX = models.Index(fields=["model", "id"], name=NAME, condition=Q(status="received"))


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} "
            "ON reviewapp_prediction (model_id, id) WHERE status = 'received'"
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
        ("reviewapp", "0018_labels_feed_order"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="prediction", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
