"""Move the bulky envelope (input, output, signals, lineage) to PredictionPayload.

On PostgreSQL the new table is range-partitioned by month on ``received_at`` (a DEFAULT
partition, the months the existing rows span, and the next few); elsewhere a plain table.
Existing payloads are copied in id chunks, then the old columns are dropped.
"""

import django.db.models.deletion
from django.db import migrations, models

from reviewapp.core import clock
from reviewapp.models import partitions

COPY_CHUNK = 50_000
MONTHS_AHEAD = 3


class CreatePartitionedModel(migrations.CreateModel):
    """CreateModel whose table is ``PARTITION BY RANGE (received_at)`` on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.name)
        sql, params = schema_editor.table_sql(model)
        schema_editor.execute(partitions.partition_table_sql(sql), params or None)
        schema_editor.deferred_sql.extend(schema_editor._model_indexes_sql(model))
        return None


def create_partitions(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    Prediction = apps.get_model("reviewapp", "Prediction")
    oldest = Prediction.objects.aggregate(v=models.Min("received_at"))["v"]
    newest = Prediction.objects.aggregate(v=models.Max("received_at"))["v"]
    now = clock.now()
    month = partitions.month_start(min(oldest or now, now))
    last = partitions.month_start(max(newest or now, now))
    for _ in range(MONTHS_AHEAD):
        last = partitions.next_month(last)
    with schema_editor.connection.cursor() as cursor:
        partitions.create_default_partition(cursor)
        while month <= last:
            partitions.create_month_partition(cursor, month)
            month = partitions.next_month(month)


def copy_payloads(apps, schema_editor):
    Prediction = apps.get_model("reviewapp", "Prediction")
    top = Prediction.objects.aggregate(v=models.Max("id"))["v"] or 0
    qn = schema_editor.connection.ops.quote_name
    columns = "prediction_id, received_at, model_id, input, output, signals, lineage"
    with schema_editor.connection.cursor() as cursor:
        for low in range(0, top, COPY_CHUNK):
            cursor.execute(
                f"INSERT INTO {qn('reviewapp_predictionpayload')} ({columns})"
                " SELECT id, received_at, model_id, input, output, signals, lineage"
                f" FROM {qn('reviewapp_prediction')} WHERE id > %s AND id <= %s",
                [low, low + COPY_CHUNK],
            )


def copy_back(apps, schema_editor):
    """Reverse: the dropped columns come back and take the payloads again (id chunks)."""
    Prediction = apps.get_model("reviewapp", "Prediction")
    top = Prediction.objects.aggregate(v=models.Max("id"))["v"] or 0
    qn = schema_editor.connection.ops.quote_name
    payload, prediction = qn("reviewapp_predictionpayload"), qn("reviewapp_prediction")
    values = ", ".join(
        f"{name} = COALESCE((SELECT pp.{name} FROM {payload} pp"
        f" WHERE pp.prediction_id = {prediction}.id), '{{}}')"
        for name in ("input", "output", "signals", "lineage")
    )
    with schema_editor.connection.cursor() as cursor:
        for low in range(0, top, COPY_CHUNK):
            cursor.execute(
                f"UPDATE {prediction} SET {values} WHERE id > %s AND id <= %s",
                [low, low + COPY_CHUNK],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("reviewapp", "0020_prediction_request_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="prediction",
            name="payload_removed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        CreatePartitionedModel(
            name="PredictionPayload",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "prediction_id",
                        "received_at",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("received_at", models.DateTimeField()),
                ("input", models.JSONField(default=dict)),
                ("output", models.JSONField(default=dict)),
                ("signals", models.JSONField(blank=True, default=dict)),
                ("lineage", models.JSONField(blank=True, default=dict)),
                (
                    "model",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="reviewapp.mlmodel",
                    ),
                ),
                (
                    "prediction",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="payloads",
                        to="reviewapp.prediction",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["model", "received_at"], name="payload_model_received_idx")
                ],
            },
        ),
        migrations.RunPython(create_partitions, migrations.RunPython.noop),
        # Nullable before the copy, so that reversed (columns back, then the copy back, then
        # NOT NULL again) the columns take their values before the constraint returns.
        migrations.AlterField(
            model_name="prediction", name="input", field=models.JSONField(null=True)
        ),
        migrations.AlterField(
            model_name="prediction", name="output", field=models.JSONField(null=True)
        ),
        migrations.RunPython(copy_payloads, copy_back),
        migrations.RemoveField(model_name="prediction", name="input"),
        migrations.RemoveField(model_name="prediction", name="output"),
        migrations.RemoveField(model_name="prediction", name="signals"),
        migrations.RemoveField(model_name="prediction", name="lineage"),
    ]
