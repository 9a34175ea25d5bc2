"""Subject rows: the indexed names of a batch event's subjects, append-only, and their backfill."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from reviewapp.core.audit import (
    Actor,
    audit_record,
    audit_record_many,
    audit_seal_all,
    audit_verify,
    build_event,
)
from reviewapp.core.models import AuditEvent, AuditSeal, AuditSubject

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")
IS_POSTGRES = connection.vendor == "postgresql"
backfill_migration = importlib.import_module(
    "reviewapp.core.migrations.0005_audit_subjects_backfill"
)


def subjects_of(event: AuditEvent) -> list[tuple[str, str]]:
    return list(
        AuditSubject.objects.filter(event=event)
        .order_by("id")
        .values_list("target_type", "target_id")
    )


def test_record_many_writes_events_and_subjects_in_two_statements(django_assert_num_queries):
    events = [
        build_event(
            actor=ACTOR,
            verb="queue.prediction.ingested",
            target=("reviewapp.prediction", f"{start}..{start + 2}"),
            data={"ids": [start, start + 1, start + 2]},
            subjects={"reviewapp.prediction": [start, start + 1, start + 2, start]},
        )
        for start in (1, 4)
    ]
    with transaction.atomic(), django_assert_num_queries(2):
        audit_record_many(events)
    assert subjects_of(events[0]) == [
        ("reviewapp.prediction", "1"),
        ("reviewapp.prediction", "2"),
        ("reviewapp.prediction", "3"),
    ]
    assert [pk for _t, pk in subjects_of(events[1])] == ["4", "5", "6"]


def test_an_event_without_subjects_costs_no_extra_statement(django_assert_num_queries):
    with django_assert_num_queries(1):
        audit_record(actor=ACTOR, verb="queue.pool.member_added", target=("tests.thing", 1))
    assert not AuditSubject.objects.exists()


def test_subject_rows_are_append_only_in_the_application():
    event = audit_record(
        actor=ACTOR,
        verb="queue.review_item.sla_warned",
        target=("reviewapp.reviewitem", "7..8"),
        data={"ids": [7, 8]},
        subjects={"reviewapp.reviewitem": [7, 8]},
    )
    subject = AuditSubject.objects.filter(event=event).first()
    subject.target_id = "9"
    with pytest.raises(RuntimeError):
        subject.save()
    with pytest.raises(RuntimeError):
        subject.delete()
    with pytest.raises(RuntimeError):
        AuditSubject.objects.update(target_id="9")
    with pytest.raises(RuntimeError):
        AuditSubject.objects.all().delete()
    assert [pk for _t, pk in subjects_of(event)] == ["7", "8"]


@pytest.mark.skipif(not IS_POSTGRES, reason="the append-only trigger exists on PostgreSQL only")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE core_auditsubject SET target_id = 'x' WHERE event_id = %s",
        "DELETE FROM core_auditsubject WHERE event_id = %s",
    ],
)
def test_postgresql_refuses_to_update_or_delete_subject_rows(sql):
    event = audit_record(
        actor=ACTOR,
        verb="queue.prediction.routed",
        target=("reviewapp.prediction", "1..2"),
        data={"to_review": [1], "passed": [2]},
        subjects={"reviewapp.prediction": [1, 2]},
    )
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk])
    assert AuditSubject.objects.filter(event=event).count() == 2


# --- the backfill migration -----------------------------------------------------------------
def old_event(verb: str, target_id: str, data: dict) -> AuditEvent:
    """An event as earlier code wrote it: straight into the table, no subject rows."""
    (event,) = AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor_type="system",
                actor_label="old",
                verb=verb,
                target_type="reviewapp.prediction",
                target_id=target_id,
                data=data,
            )
        ]
    )
    return event


def test_backfill_indexes_legacy_and_current_batch_events_without_touching_the_chain():
    ingested = old_event("prediction.ingested", "1..2", {"count": 2, "ids": [1, 2]})
    routed = old_event(
        "prediction.routed", "1..3", {"to_review": [1], "passed": [2, 3], "policies": {}}
    )
    near = old_event("review_item.sla_near", "5..6", {"ids": [5, 6], "priority_bump": 20})
    filled = old_event("delivery.enqueued", "fill", {"kind": "decision", "deliveries": [8, 9]})
    new_routed = old_event("queue.prediction.routed", "4..4", {"to_review": [4], "passed": []})
    other = old_event("review_item.claimed", "5", {"ids": [1]})
    odd = old_event("prediction.ingested", "x", {"ids": "not a list"})
    audit_seal_all()
    seals_before = list(AuditSeal.objects.values_list("seq", "hash"))

    written = backfill_migration.backfill(apps, None)

    assert written == 2 + 3 + 2 + 2 + 1
    assert subjects_of(ingested) == [("reviewapp.prediction", "1"), ("reviewapp.prediction", "2")]
    assert [pk for _t, pk in subjects_of(routed)] == ["1", "2", "3"]
    assert subjects_of(near) == [("reviewapp.reviewitem", "5"), ("reviewapp.reviewitem", "6")]
    assert subjects_of(filled) == [("delivery.delivery", "8"), ("delivery.delivery", "9")]
    assert subjects_of(new_routed) == [("reviewapp.prediction", "4")]
    assert subjects_of(other) == [] and subjects_of(odd) == []
    # Events and seals are as they were: the chain still verifies, nothing new to seal.
    assert list(AuditSeal.objects.values_list("seq", "hash")) == seals_before
    report = audit_verify()
    assert report.ok and report.unsealed == 0
    # Running it again writes nothing twice.
    assert backfill_migration.backfill(apps, None) == 0
    assert AuditSubject.objects.count() == written
