"""The append-only, hash-chained audit log: write, seal, verify, and detect tampering."""

from __future__ import annotations

import json
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from reviewapp.core.audit import (
    GENESIS_HASH,
    Actor,
    audit_record,
    audit_seal,
    audit_seal_all,
    audit_verify,
    chain_hash,
)
from reviewapp.core.models import AuditEvent, AuditSeal
from tests.factories import envelope_for

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")
IS_POSTGRES = connection.vendor == "postgresql"
# Any registered verb: writing an unregistered one raises in tests (AUDIT_STRICT_VERBS).
VERB = "queue.pool.member_added"


def record(n: int = 1, verb: str = VERB) -> list[AuditEvent]:
    return [
        audit_record(
            actor=ACTOR,
            verb=verb,
            target=("tests.thing", i),
            before={"n": i},
            after={"n": i + 1, "text": "é"},
            data={"i": i},
        )
        for i in range(n)
    ]


def verify_command() -> str:
    out, err = StringIO(), StringIO()
    call_command("verify_audit", stdout=out, stderr=err)
    return out.getvalue()


# --- writing ------------------------------------------------------------------------------
def test_ingest_route_policy_and_account_actions_are_audited(api, fraud_model):
    from reviewapp.services.routing import predictions_route

    response = api.post(
        "/api/v1/predictions",
        json.dumps(envelope_for(fraud_model, "audited", confidence=0.3)),
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-audit-1",
    )
    assert response["X-Request-ID"] == "req-audit-1"
    predictions_route(ids=[response.json()["id"]])
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {
        "governance.policy_version.created",
        "governance.policy_version.activated",
        "queue.service_account.created",
        "queue.prediction.ingested",
        "queue.prediction.routed",
    } <= verbs
    ingested = AuditEvent.objects.get(verb="queue.prediction.ingested")
    assert ingested.request_id == "req-audit-1"
    assert (ingested.actor_type, ingested.actor_label) == ("service", "producer")
    assert ingested.data["ids"] == [response.json()["id"]]


def test_an_unsafe_request_id_is_replaced(api, fraud_model):
    response = api.get("/api/v1/models", HTTP_X_REQUEST_ID="bad id; drop table")
    assert response["X-Request-ID"] != "bad id; drop table"
    assert response["X-Request-ID"]


def test_events_cannot_be_changed_or_removed_through_the_application():
    [event] = record()
    event.verb = "changed"
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()
    with pytest.raises(RuntimeError):
        AuditEvent.objects.filter(pk=event.pk).update(verb="changed")
    with pytest.raises(RuntimeError):
        AuditEvent.objects.all().delete()
    audit_seal_all()
    with pytest.raises(RuntimeError):
        AuditSeal.objects.all().delete()
    with pytest.raises(RuntimeError):
        AuditSeal.objects.update(hash="0")
    seal = AuditSeal.objects.get()
    with pytest.raises(RuntimeError):
        seal.save()
    assert AuditEvent.objects.get().verb == VERB


# --- sealing ------------------------------------------------------------------------------
def test_sealing_chains_events_in_id_order():
    events = record(5)
    assert audit_seal() == 5
    seals = list(AuditSeal.objects.order_by("seq"))
    assert [s.event_id for s in seals] == [e.pk for e in events]
    assert seals[0].prev_hash == GENESIS_HASH
    for previous, seal in zip(seals, seals[1:], strict=False):
        assert seal.prev_hash == previous.hash
    for seal, event in zip(seals, events, strict=True):
        assert seal.key_id == "dev"
        assert seal.hash == chain_hash(
            seal.prev_hash, AuditEvent.objects.get(pk=event.pk), seal.key_id
        )
    assert audit_seal() == 0  # nothing new: a redelivered seal task does nothing


def test_sealing_in_batches_continues_the_chain(settings):
    settings.AUDIT_SEAL_BATCH = 3
    record(7)
    assert audit_seal() == 3
    assert audit_seal_all() == 4
    report = audit_verify()
    assert report.ok and report.sealed == 7 and report.unsealed == 0


def test_verify_reports_the_unsealed_tail():
    record(3)
    audit_seal_all()
    record(2)
    report = audit_verify()
    assert report.ok
    assert (report.sealed, report.unsealed) == (3, 2)
    out = verify_command()
    assert "intact" in out and "3 sealed" in out and "2 not sealed yet" in out


def test_seal_audit_command():
    record(4)
    out = StringIO()
    call_command("seal_audit", stdout=out)
    assert "Sealed 4" in out.getvalue()
    assert audit_verify().ok


def test_an_empty_log_verifies():
    report = audit_verify()
    assert report.ok and (report.sealed, report.unsealed) == (0, 0)


# --- tampering ----------------------------------------------------------------------------
@contextmanager
def attacker():
    """Raw SQL, as someone with database access would do it. On PostgreSQL the append-only
    triggers must first be switched off, as only a table owner could."""
    if IS_POSTGRES:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only"
            )
            cursor.execute("ALTER TABLE core_auditseal DISABLE TRIGGER core_auditseal_append_only")
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        if IS_POSTGRES:
            with connection.cursor() as cursor:
                cursor.execute(
                    "ALTER TABLE core_auditevent ENABLE TRIGGER core_auditevent_append_only"
                )
                cursor.execute(
                    "ALTER TABLE core_auditseal ENABLE TRIGGER core_auditseal_append_only"
                )


def assert_detected(fragment: str) -> None:
    report = audit_verify()
    assert not report.ok
    assert any(fragment in problem for problem in report.problems), report.problems
    with pytest.raises(CommandError, match="broken"):
        verify_command()


@pytest.fixture
def sealed_events():
    events = record(6)
    audit_seal_all()
    assert audit_verify().ok
    assert "intact" in verify_command()
    return events


@pytest.mark.skipif(not IS_POSTGRES, reason="the append-only trigger exists on PostgreSQL only")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE core_auditevent SET verb = 'x' WHERE id = %s",
        "DELETE FROM core_auditevent WHERE id = %s",
        "UPDATE core_auditseal SET hash = 'x' WHERE event_id = %s",
        "DELETE FROM core_auditseal WHERE event_id = %s",
    ],
)
def test_postgresql_refuses_to_update_or_delete_audit_rows(sealed_events, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [sealed_events[0].pk])
    assert audit_verify().ok


def test_an_edited_event_is_detected(sealed_events):
    target = sealed_events[2]
    with attacker() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET actor_label = 'someone else' WHERE id = %s", [target.pk]
        )
    assert_detected(f"event {target.pk} does not match its seal")


def test_an_edited_json_field_is_detected(sealed_events):
    target = sealed_events[1]
    value = json.dumps({"n": 999, "text": "é"})
    with attacker() as cursor:
        cast = "::jsonb" if IS_POSTGRES else ""
        cursor.execute(
            f"UPDATE core_auditevent SET after = %s{cast} WHERE id = %s", [value, target.pk]
        )
    assert_detected(f"event {target.pk} does not match its seal")


def test_a_removed_event_is_detected(sealed_events):
    target = sealed_events[3]
    with attacker() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [target.pk])
    assert_detected(f"event {target.pk} was removed")


def test_a_removed_event_and_its_seal_are_detected(sealed_events):
    target = sealed_events[3]
    with attacker() as cursor:
        cursor.execute("DELETE FROM core_auditseal WHERE event_id = %s", [target.pk])
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [target.pk])
    assert_detected("chain broken")


def test_reordered_events_are_detected(sealed_events):
    first, second = sealed_events[1], sealed_events[4]
    # Swap the two rows' content by swapping their ids.
    with attacker() as cursor:
        cursor.execute("UPDATE core_auditevent SET id = -1 WHERE id = %s", [first.pk])
        cursor.execute("UPDATE core_auditevent SET id = %s WHERE id = %s", [first.pk, second.pk])
        cursor.execute("UPDATE core_auditevent SET id = %s WHERE id = -1", [second.pk])
    assert AuditEvent.objects.get(pk=first.pk).data == {"i": 4}
    report = audit_verify()
    assert len([p for p in report.problems if "does not match" in p]) == 2
    assert_detected(f"event {first.pk} does not match its seal")


def test_a_recomputed_seal_still_breaks_the_chain_after_it(sealed_events):
    """Editing an event and rewriting its own seal is not enough: the next link disagrees."""
    target = sealed_events[2]
    with attacker() as cursor:
        cursor.execute("UPDATE core_auditevent SET verb = 'forged' WHERE id = %s", [target.pk])
        seal = AuditSeal.objects.get(event_id=target.pk)
        forged = chain_hash(seal.prev_hash, AuditEvent.objects.get(pk=target.pk))
        cursor.execute("UPDATE core_auditseal SET hash = %s WHERE seq = %s", [forged, seal.seq])
    assert_detected("chain broken")
