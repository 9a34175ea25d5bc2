""" "Similar decisions" with an id tie-break in the index: the old index (model, label,
confidence) left PostgreSQL to sort every decision at the boundary confidence, which at
millions of decisions with rounded confidences cost tens of milliseconds per review page.
Two partial indexes (confidence up with id descending, confidence down read backwards) let
the LIMIT stop after a few rows. Built and dropped CONCURRENTLY on PostgreSQL, so the
migration runs outside a transaction and never locks decisions out."""

from django.db import migrations, models
from django.db.models import Q

SIMILAR = Q(action__in=["accept", "override"], undone_at__isnull=True)
OLD = models.Index(
    fields=["model", "predicted_label", "model_confidence"],
    name="decision_similar_idx",
    condition=SIMILAR,
)
NEW = [
    models.Index(
        fields=["model", "predicted_label", "model_confidence", "-id"],
        name="decision_similar_up_idx",
        condition=SIMILAR,
    ),
    models.Index(
        fields=["model", "predicted_label", "model_confidence", "id"],
        name="decision_similar_down_idx",
        condition=SIMILAR,
    ),
]


def _swap(schema_editor, model, add, remove):
    postgres = schema_editor.connection.vendor == "postgresql"
    options = {"concurrently": True} if postgres else {}
    for index in add:
        if postgres:  # a build interrupted earlier leaves an invalid index of that name
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.name}")
        schema_editor.add_index(model, index, **options)
    for index in remove:
        schema_editor.remove_index(model, index, **options)


def forwards(apps, schema_editor):
    _swap(schema_editor, apps.get_model("reviewapp", "Decision"), NEW, [OLD])


def backwards(apps, schema_editor):
    _swap(schema_editor, apps.get_model("reviewapp", "Decision"), [OLD], NEW)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reviewapp", "0022_mlmodel_payload_retention_days"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="decision", name=OLD.name),
                *(migrations.AddIndex(model_name="decision", index=index) for index in NEW),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
