"""The payload side table (issue 18): ingest writes it with the prediction, routing and the
pages read it, PostgreSQL partitions it by month, and each model's retention policy exports
then removes old payloads while the routing record stays."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import threading
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test import override_settings

from reviewapp.core.audit import Actor
from reviewapp.core.models import AuditEvent
from reviewapp.governance import services as governance
from reviewapp.governance.replay import routing_replay
from reviewapp.governance.services.documents import validate_model_settings
from reviewapp.models import MLModel, Prediction, PredictionPayload, ReviewItem, partitions
from reviewapp.services import payloads
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.payloads import payload_partitions_ensure, payload_retention_apply
from reviewapp.services.routing import predictions_route
from tests.factories import DEFAULT_RULES, MLModelFactory, envelope_for, make_policy
from tests.reviewapp.test_queue_fixtures import pooled_reviewer  # noqa: F401

pytestmark = pytest.mark.django_db
PG = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="declarative partitioning is PostgreSQL's"
)
ACTOR = Actor.system("tests")


def ingest(model: MLModel, n: int, prefix: str = "p", **overrides) -> list[int]:
    envelopes = [envelope_for(model, f"{prefix}-{i}", **overrides) for i in range(n)]
    results = prediction_batch_ingest(envelopes=envelopes, account=None, actor=ACTOR)
    return [r.id for r in results]


def age(ids: list[int], days: int) -> dt.datetime:
    """Make the predictions' payloads ``days`` old (retention reads the payload's copy of
    ``received_at``; the routing record keeps its own, so replay's SLA still matches)."""
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    PredictionPayload.objects.filter(prediction_id__in=ids).update(received_at=when)
    return when


# --- ingest and readers ---------------------------------------------------------------------
def test_ingest_writes_one_payload_row_per_new_prediction_and_none_for_a_duplicate(
    fraud_model,
):
    ids = ingest(fraud_model, 3)
    again = ingest(fraud_model, 3)  # duplicates: nothing new
    assert again == ids
    rows = {r.prediction_id: r for r in PredictionPayload.objects.all()}
    assert set(rows) == set(ids)
    row = rows[ids[0]]
    prediction = Prediction.objects.get(pk=ids[0])
    assert row.input == {"amount": 912.5, "country": "NL"}
    assert row.signals["ood_score"] == 0.1 and row.lineage == {"dataset": "tx-2026-11"}
    assert row.model_id == fraud_model.pk and row.received_at == prediction.received_at
    # The narrow row has no payload column; the properties read the side table.
    assert not {"input", "output", "signals", "lineage"} & {
        f.name for f in Prediction._meta.concrete_fields
    }
    assert prediction.output["label"] == "fraud" and prediction.payload == row


def test_a_failed_ingest_writes_neither_the_prediction_nor_its_payload(fraud_model):
    with (
        mock.patch("reviewapp.services.ingest.audit_record_many", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        ingest(fraud_model, 2)
    assert Prediction.objects.count() == 0 and PredictionPayload.objects.count() == 0


def test_routing_reads_signals_and_segment_inputs_from_the_payload(db):
    model = MLModelFactory(slug="seg", labels=["fraud", "legit"], criticality="high")
    rules = {
        **DEFAULT_RULES,
        "schema": 2,
        "max_auto_error_rate": 0.02,
        "qa_sample_rate": 0,
        "segments": [
            {
                "name": "high-value",
                "conditions": [{"field": "input.amount", "op": ">=", "value": 10000}],
                "min_confidence": 0.99,
            }
        ],
    }
    make_policy(model, rules)
    confident = {"confidence": 0.97, "output": {"label": "legit", "scores": {"legit": 0.97}}}
    ood = ingest(model, 1, "ood", signals={"ood_score": 0.9}, **confident)[0]
    big = ingest(model, 1, "big", input={"amount": 50000, "country": "NL"}, **confident)[0]
    calm = ingest(model, 1, "calm", **confident)[0]
    predictions_route(ids=[ood, big, calm])
    got = {p.pk: p for p in Prediction.objects.filter(pk__in=[ood, big, calm])}
    assert got[ood].routed and "ood_above_limit" in got[ood].reason_codes
    assert got[big].routed and got[big].reason_details.get("segment") == "high-value"
    assert got[calm].routed is False
    assert got[ood].routing_facts["ood_score"] == 0.9


def test_factories_and_bulk_create_write_the_payload_through_the_properties(fraud_model):
    now = dt.datetime.now(dt.UTC)
    common = {"model": fraud_model, "model_version": "1", "label": "fraud", "confidence": 0.5,
              "occurred_at": now, "received_at": now}  # fmt: skip
    one = Prediction.objects.create(external_id="a", input={"x": 1}, **common)
    two = Prediction.objects.bulk_create(
        [Prediction(external_id="b", signals={"ood_score": 0.3}, **common)]
    )[0]
    assert Prediction.objects.get(pk=one.pk).input == {"x": 1}
    fresh = Prediction.objects.get(pk=two.pk)
    assert fresh.signals == {"ood_score": 0.3} and fresh.input == {}
    fresh.input = {"y": 2}
    fresh.save(update_fields=["input"])
    assert PredictionPayload.objects.get(prediction_id=two.pk).input == {"y": 2}


# --- PostgreSQL partitions -------------------------------------------------------------------
def _partitions() -> dict[dt.date, str]:
    with connection.cursor() as cursor:
        return partitions.existing_month_partitions(cursor)


def _partition_of(prediction_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {partitions.PAYLOAD_TABLE}"  # noqa: S608
            " WHERE prediction_id = %s",
            [prediction_id],
        )
        return cursor.fetchone()[0].strip('"')


@PG
def test_the_payload_table_is_partitioned_by_month_with_a_default_partition(fraud_model):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pt.partstrat FROM pg_partitioned_table pt JOIN pg_class c"
            " ON c.oid = pt.partrelid WHERE c.relname = %s",
            [partitions.PAYLOAD_TABLE],
        )
        assert cursor.fetchone() == ("r",)
        cursor.execute(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE c.relname = %s",
            [partitions.DEFAULT_PARTITION],
        )
        assert cursor.fetchone() == (1,)
    this_month = partitions.month_start(dt.datetime.now(dt.UTC))
    assert this_month in _partitions()
    # Ingest lands in this month's partition.
    pk = ingest(fraud_model, 1)[0]
    assert _partition_of(pk) == partitions.partition_name(this_month)


@PG
def test_partitions_are_created_ahead_idempotently_and_audited_only_when_created(fraud_model):
    far = dt.datetime(2031, 5, 17, tzinfo=dt.UTC)
    created = payload_partitions_ensure(now=far, months_ahead=2)
    assert created == ["2031-05", "2031-06", "2031-07"]
    assert {dt.date(2031, m, 1) for m in (5, 6, 7)} <= set(_partitions())
    events = AuditEvent.objects.filter(verb="queue.payload_partition.created")
    assert events.count() == 1 and events.get().data == {"months": created}
    assert payload_partitions_ensure(now=far, months_ahead=2) == []
    assert events.count() == 1


@PG
def test_a_row_for_a_month_without_partition_lands_in_default_and_moves_when_created(
    fraud_model,
):
    pk = ingest(fraud_model, 1)[0]
    when = dt.datetime(2035, 3, 9, 12, tzinfo=dt.UTC)
    PredictionPayload.objects.filter(prediction_id=pk).update(received_at=when)
    assert _partition_of(pk) == partitions.DEFAULT_PARTITION
    assert payload_partitions_ensure(now=when, months_ahead=0) == ["2035-03"]
    assert _partition_of(pk) == partitions.partition_name(dt.date(2035, 3, 1))
    assert Prediction.objects.get(pk=pk).input == {"amount": 912.5, "country": "NL"}


# --- the retention policy --------------------------------------------------------------------
@pytest.fixture
def export_dir(tmp_path):
    with override_settings(PAYLOAD_EXPORT_DIR=str(tmp_path / "exports")):
        yield tmp_path / "exports"


def test_retention_exports_then_removes_old_payloads_and_keeps_the_routing_record(
    fraud_model, export_dir
):
    other = MLModelFactory(slug="churn", labels=["stay", "leave"], criticality="low")
    make_policy(
        other,
        {
            **DEFAULT_RULES,
            "min_confidence_by_label": {},
            "fallback": {"label": "stay", "action": "keep"},
        },
    )
    old = ingest(fraud_model, 4, "old")
    recent = ingest(fraud_model, 2, "new")
    kept_forever = ingest(other, 2, "keep")
    predictions_route(ids=old + recent + kept_forever)
    age(old, 40)
    age(kept_forever, 400)
    MLModel.objects.filter(pk=fraud_model.pk).update(payload_retention_days=30)
    facts_before = dict(Prediction.objects.filter(pk__in=old).values_list("id", "routing_facts"))

    summaries = payload_retention_apply()

    assert [s["model"] for s in summaries] == ["card-fraud"]
    summary = summaries[0]
    assert summary["count"] == 4 and summary["retention_days"] == 30
    # The export first: every dropped row, gzip JSONL, its sha256 as audited.
    path = Path(summary["export"])
    assert path.parent == export_dir
    assert hashlib.sha256(path.read_bytes()).hexdigest() == summary["sha256"]
    with gzip.open(path, "rt") as lines:
        exported = [json.loads(line) for line in lines]
    assert sorted(r["prediction_id"] for r in exported) == sorted(old)
    assert exported[0]["input"] == {"amount": 912.5, "country": "NL"}
    # Then removed: only that model's rows past its retention.
    assert set(PredictionPayload.objects.values_list("prediction_id", flat=True)) == set(
        recent + kept_forever
    )
    gone = Prediction.objects.filter(pk__in=old)
    assert all(p.payload_removed_at is not None for p in gone)
    assert not Prediction.objects.filter(pk__in=recent, payload_removed_at__isnull=False).exists()
    # The routing record stays and replay still reproduces it from the stored facts.
    assert dict(gone.values_list("id", "routing_facts")) == facts_before
    assert all(routing_replay(p).matches for p in gone)
    event = AuditEvent.objects.get(verb="queue.prediction_payload.removed")
    assert event.data["count"] == 4 and event.data["sha256"] == summary["sha256"]
    assert event.data["export"] == str(path) and event.data["months"]
    # Idempotent: nothing left to remove, no second export or event.
    assert payload_retention_apply() == []
    assert AuditEvent.objects.filter(verb="queue.prediction_payload.removed").count() == 1
    assert len(list(export_dir.glob("*.jsonl.gz"))) == 1


@PG
def test_a_month_whose_rows_are_all_expired_is_dropped_whole(fraud_model, export_dir):
    ids = ingest(fraud_model, 3)
    when = age(ids, 120)
    month = partitions.month_start(when)
    with connection.cursor() as cursor:
        partitions.create_month_partition(cursor, month)  # moves the rows out of DEFAULT
    assert _partition_of(ids[0]) == partitions.partition_name(month)
    MLModel.objects.filter(pk=fraud_model.pk).update(payload_retention_days=30)
    summary = payload_retention_apply()[0]
    assert summary["partitions_dropped"] == [f"{month:%Y-%m}"] and summary["deleted_rows"] == 0
    assert month not in _partitions()
    assert PredictionPayload.objects.count() == 0 and summary["count"] == 3
    assert Prediction.objects.filter(payload_removed_at__isnull=False).count() == 3


def test_pages_and_api_after_the_payload_is_removed(
    fraud_model,
    api,
    client,
    pooled_reviewer,  # noqa: F811
    export_dir,
):
    ids = ingest(fraud_model, 1, confidence=0.3)
    predictions_route(ids=ids)
    age(ids, 40)
    MLModel.objects.filter(pk=fraud_model.pk).update(payload_retention_days=30)
    payload_retention_apply()
    record = api.get(f"/api/v1/predictions/{ids[0]}").json()
    assert record["input"] is None and record["signals"] is None
    assert record["payload_removed_at"] is not None and record["routing"]["routed"] is True
    item = ReviewItem.objects.get(prediction_id=ids[0])
    client.force_login(pooled_reviewer)
    page = client.get(f"/queue/items/{item.pk}/review/")
    assert page.status_code == 200
    assert "Payload removed by the retention policy on" in page.content.decode()
    detail = client.get(f"/api/v1/queue/items/{item.pk}")
    assert detail.status_code == 200
    assert detail.json()["input"] is None and detail.json()["payload_removed_at"]


# --- the governed setting --------------------------------------------------------------------
SETTINGS = {
    "criticality": "critical",
    "cost_of_wrong_decision": 250.0,
    "cost_per_hour_of_delay": 40,
    "regulatory_class": "regulated",
}


@pytest.mark.parametrize("value", [0, -3, 1.5, "30", True])
def test_a_bad_retention_names_the_field(value):
    errors = validate_model_settings({**SETTINGS, "payload_retention_days": value})
    assert "payload_retention_days" in errors


def test_the_retention_is_a_governed_model_setting(fraud_model):
    assert validate_model_settings({**SETTINGS, "payload_retention_days": None}) == {}
    governance.change_request_bootstrap(
        model_slug="card-fraud", kind="model_settings",
        document={**SETTINGS, "payload_retention_days": 90},
        rationale="Keep payloads a quarter.", actor=ACTOR,
    )  # fmt: skip
    assert MLModel.objects.get(pk=fraud_model.pk).payload_retention_days == 90
    event = AuditEvent.objects.filter(verb="queue.ml_model.settings_applied").latest("id")
    assert event.after["payload_retention_days"] == 90


# --- retention beside ingest (PostgreSQL: DETACH locks the whole payload table) -------------
def _ingest_elsewhere(model: MLModel, external_id: str, seconds: float) -> bool:
    """Ingest one prediction from another connection; whether it committed within ``seconds``."""
    done = threading.Event()

    def run() -> None:
        try:
            ingest(model, 1, external_id)
            done.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not done.wait(seconds):
        return False  # still waiting on a lock: left to finish when the run commits
    thread.join()
    return True


@PG
@pytest.mark.django_db(transaction=True)
def test_ingest_goes_on_while_a_retention_run_deletes(fraud_model, export_dir):
    """Each step commits on its own: after a whole month is detached and dropped, the run
    holds no lock on the payload table while it deletes the remaining rows in chunks."""
    whole = ingest(fraud_model, 3, "whole")
    month = partitions.month_start(age(whole, 120))
    with connection.cursor() as cursor:
        partitions.create_month_partition(cursor, month)
    age(ingest(fraud_model, 2, "default"), 40)  # no partition of its own: chunk deletes
    MLModel.objects.filter(pk=fraud_model.pk).update(payload_retention_days=30)
    seen: list[bool] = []
    delete_in_chunks = payloads._delete_in_chunks

    def deleting(expired):
        seen.append(_ingest_elsewhere(fraud_model, f"during-{len(seen)}", seconds=5))
        return delete_in_chunks(expired)

    with mock.patch.object(payloads, "_delete_in_chunks", deleting):
        [summary] = payload_retention_apply()
    assert summary["partitions_dropped"] == [f"{month:%Y-%m}"] and summary["deleted_rows"] == 2
    assert seen == [True]
    assert Prediction.objects.filter(external_id="during-0-0").exists()


@PG
@pytest.mark.django_db(transaction=True)
def test_a_month_whose_lock_is_busy_is_deleted_in_chunks_instead(fraud_model, export_dir):
    ids = ingest(fraud_model, 3)
    month = partitions.month_start(age(ids, 120))
    with connection.cursor() as cursor:
        partitions.create_month_partition(cursor, month)
    MLModel.objects.filter(pk=fraud_model.pk).update(payload_retention_days=30)
    locked, release = threading.Event(), threading.Event()

    def reader() -> None:  # a long export or report reading the payload table
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {partitions.PAYLOAD_TABLE} IN ACCESS SHARE MODE")
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    assert locked.wait(5)
    try:
        with override_settings(PAYLOAD_DETACH_LOCK_TIMEOUT=0.2):
            [summary] = payload_retention_apply()
    finally:
        release.set()
        thread.join()
    assert summary["partitions_dropped"] == [] and summary["deleted_rows"] == 3
    assert month in _partitions()
    assert PredictionPayload.objects.count() == 0
    assert Prediction.objects.filter(payload_removed_at__isnull=False).count() == 3


# --- the migration ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_existing_payloads_and_reverses():
    """Rows stored before the side table keep their payload across 0021, both ways."""
    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        [("reviewapp", "0020_prediction_request_id")],
        [("reviewapp", "0022_mlmodel_payload_retention_days")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    model = old.get_model("reviewapp", "MLModel").objects.create(
        slug="m", name="m", owner_team="t", labels=["a", "b"]
    )
    now = dt.datetime.now(dt.UTC)
    old.get_model("reviewapp", "Prediction").objects.create(
        model=model, external_id="e", model_version="1", input={"amount": 3},
        output={"label": "a"}, label="a", confidence=0.5, signals={"ood_score": 0.2},
        lineage={"dataset": "d"}, occurred_at=now, received_at=now,
    )  # fmt: skip
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    row = PredictionPayload.objects.get(prediction__external_id="e")
    assert (row.input, row.output, row.signals, row.lineage) == (
        {"amount": 3}, {"label": "a"}, {"ood_score": 0.2}, {"dataset": "d"}
    )  # fmt: skip
    assert row.received_at == now and row.model_id == model.pk
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    back = executor.loader.project_state(before).apps.get_model("reviewapp", "Prediction")
    assert back.objects.get(external_id="e").input == {"amount": 3}
    latest = MigrationExecutor(connection)  # every app's newest state, for the tests after
    latest.migrate(latest.loader.graph.leaf_nodes())


# --- the partition key follows the prediction (payload lookups prune by it) -------------------
def test_a_new_received_at_is_copied_to_the_payload_by_update_and_save(fraud_model):
    first, second = ingest(fraud_model, 2)
    when = dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC)
    assert Prediction.objects.filter(pk=first).update(received_at=when) == 1
    assert PredictionPayload.objects.get(prediction_id=first).received_at == when
    row = Prediction.objects.get(pk=second)
    row.received_at = when
    row.save()
    assert PredictionPayload.objects.get(prediction_id=second).received_at == when
    # Routing's per-row lookup prunes by the partition key and still finds the signals.
    found = Prediction.objects.filter(pk__in=[first, second]).with_payload_values("signals")
    assert [p.signals.get("ood_score") for p in found] == [0.1, 0.1]


def test_the_per_row_payload_lookup_names_the_partition_key(fraud_model):
    sql = str(Prediction.objects.with_payload_values("signals").query)
    assert '"received_at" = ' in sql.split("SELECT", 2)[2], sql
