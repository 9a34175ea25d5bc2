"""Attacks on the audit log by someone who owns the database, done with plain SQL.

The owner can switch the append-only triggers off, so the triggers are not what stops them:
the chain is keyed with a secret the database does not hold, and checkpoints of its head are
kept outside the database. Each test plays one attack and expects ``verify_audit`` to name it
and the first bad sequence number, and to exit non-zero.
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from reviewapp.core import tasks
from reviewapp.core.audit import (
    GENESIS_HASH,
    Actor,
    audit_record,
    audit_seal,
    audit_seal_run,
    audit_verify,
    canonical_event,
    chain_hash,
)
from reviewapp.core.checkpoints import Checkpoint, checkpoints_read
from reviewapp.core.models import AuditEvent, AuditSeal, AuditVerification

pytestmark = pytest.mark.django_db
IS_POSTGRES = connection.vendor == "postgresql"
ACTOR = Actor.system("tests")
VERB = "queue.pool.member_added"


@pytest.fixture
def checkpoint_file(settings, tmp_path) -> Path:
    path = tmp_path / "var" / "audit-checkpoints.jsonl"
    settings.AUDIT_CHECKPOINT_FILE = str(path)
    return path


def record(n: int, start: int = 0) -> list[AuditEvent]:
    return [
        audit_record(actor=ACTOR, verb=VERB, target=("tests.thing", i), data={"i": i})
        for i in range(start, start + n)
    ]


def sealing_run(n: int, start: int = 0) -> list[AuditEvent]:
    """Events sealed the way beat does it: one run, one checkpoint."""
    events = record(n, start)
    assert audit_seal_run() == n
    return events


@contextmanager
def owner_sql():
    """Raw SQL with the triggers off, as the database owner (a superuser) can do it."""
    with connection.cursor() as cursor:
        if IS_POSTGRES:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            if IS_POSTGRES:
                cursor.execute("SET session_replication_role = DEFAULT")


def rechain_from(seq: int, *, key_id: str | None = None) -> None:
    """Recompute every seal from ``seq`` on with plain sha256, as one without the key would.
    ``key_id``: what to write in the seal's key id (None: leave it as it was)."""
    with owner_sql() as cursor:
        seals = list(AuditSeal.objects.order_by("seq"))
        prev = GENESIS_HASH
        for seal in seals:
            if seal.seq >= seq:
                event = AuditEvent.objects.get(pk=seal.event_id)
                digest = hashlib.sha256(prev.encode() + canonical_event(event)).hexdigest()
                cursor.execute(
                    "UPDATE core_auditseal SET prev_hash = %s, hash = %s, key_id = %s "
                    "WHERE seq = %s",
                    [prev, digest, seal.key_id if key_id is None else key_id, seal.seq],
                )
                prev = digest
            else:
                prev = seal.hash


def verify_fails(fragment: str, *, first_bad: int, checkpoints: str | None = None) -> None:
    report = audit_verify(checkpoints_path=checkpoints)
    assert not report.ok
    assert any(fragment in problem for problem in report.problems), report.problems
    assert report.first_bad_seq == first_bad, report.problems
    args = ["verify_audit"] + (["--checkpoints", checkpoints] if checkpoints else [])
    with pytest.raises(CommandError, match=f"first bad seal {first_bad}"):
        call_command(*args, stdout=StringIO(), stderr=StringIO())
    run = AuditVerification.objects.order_by("-id").first()
    assert run is not None and not run.ok and run.first_bad_seq == first_bad


def seqs() -> list[int]:
    return list(AuditSeal.objects.order_by("seq").values_list("seq", flat=True))


# --- the key ------------------------------------------------------------------------------
def test_seals_are_keyed_macs_that_name_their_key(settings):
    [event] = record(1)
    audit_seal()
    seal = AuditSeal.objects.get()
    assert seal.key_id == settings.AUDIT_CHAIN_KEY_ID == "dev"
    stored = AuditEvent.objects.get(pk=event.pk)
    plain = hashlib.sha256(GENESIS_HASH.encode() + canonical_event(stored)).hexdigest()
    assert seal.hash != plain
    assert seal.hash == chain_hash(GENESIS_HASH, stored, "dev")


def test_legacy_sha256_seals_keep_verifying_and_keyed_ones_follow(checkpoint_file):
    old = record(3)
    prev = GENESIS_HASH
    for event in old:  # sealed as before keys existed: plain sha256, no key id
        stored = AuditEvent.objects.get(pk=event.pk)
        digest = chain_hash(prev, stored)
        AuditSeal.objects.create(event_id=event.pk, prev_hash=prev, hash=digest)
        prev = digest
    sealing_run(2, start=3)
    assert [s.key_id for s in AuditSeal.objects.order_by("seq")] == ["", "", "", "dev", "dev"]
    report = audit_verify()
    assert report.ok, report.problems
    assert report.sealed == 5 and report.checkpoint.seq == seqs()[-1]


def test_key_rotation_keeps_old_seals_verifying(settings, checkpoint_file):
    sealing_run(2)
    settings.AUDIT_CHAIN_KEYS = {**settings.AUDIT_CHAIN_KEYS, "k2": b"k" * 32}
    settings.AUDIT_CHAIN_KEY_ID = "k2"
    sealing_run(2, start=2)
    assert [s.key_id for s in AuditSeal.objects.order_by("seq")] == ["dev", "dev", "k2", "k2"]
    assert audit_verify().ok
    # Retiring the old key too early is reported, not silently accepted.
    settings.AUDIT_CHAIN_KEYS = {"k2": b"k" * 32}
    report = audit_verify()
    assert not report.ok
    assert any("which AUDIT_CHAIN_KEYS does not hold" in p for p in report.problems)


# --- checkpoints --------------------------------------------------------------------------
def test_each_sealing_run_that_sealed_something_writes_one_checkpoint(checkpoint_file, caplog):
    with caplog.at_level(logging.INFO, logger="reviewapp.core.checkpoints"):
        sealing_run(3)
        assert audit_seal_run() == 0  # nothing new: no checkpoint
        record(2, start=3)
        assert tasks.seal_audit() == 2  # beat's task
    lines = checkpoint_file.read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    head = AuditSeal.objects.order_by("-seq").first()
    assert (second["seq"], second["hash"], second["key_id"]) == (head.seq, head.hash, "dev")
    assert first["seq"] < second["seq"] and first["sealed"] == 3 and second["sealed"] == 2
    assert all(c.mac_ok() for c in checkpoints_read(checkpoint_file).checkpoints)
    assert sum("audit checkpoint" in r.getMessage() for r in caplog.records) == 2
    assert oct(checkpoint_file.stat().st_mode & 0o777) == "0o640"


def test_plain_sealing_and_the_command(checkpoint_file):
    record(2)
    audit_seal()  # the library call alone checkpoints nothing: only the sealer's runs do
    assert not checkpoint_file.exists()
    record(2, start=2)
    out = StringIO()
    call_command("seal_audit", stdout=out)
    assert "Sealed 2" in out.getvalue()
    [line] = checkpoint_file.read_text().splitlines()
    assert json.loads(line)["seq"] == seqs()[-1]
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue() and "1 checkpoint(s)" in out.getvalue()
    run = AuditVerification.objects.get()
    assert run.ok and run.checkpoint_seq == seqs()[-1] and run.trigger == "command"


def test_checkpoint_url_gets_the_checkpoint_and_its_failure_is_not_fatal(
    settings, checkpoint_file, monkeypatch, caplog
):
    import requests

    sent = []

    def fake_post(url, data, **kwargs):
        sent.append((url, json.loads(data)))
        raise requests.ConnectionError("refused")

    monkeypatch.setattr("reviewapp.core.checkpoints.requests.post", fake_post)
    settings.AUDIT_CHECKPOINT_URL = "https://anchor.example.org/failsafe"
    with caplog.at_level(logging.WARNING):
        sealing_run(2)
    assert sent and sent[0][0] == settings.AUDIT_CHECKPOINT_URL
    assert sent[0][1]["seq"] == seqs()[-1]
    assert "Could not send the audit checkpoint" in caplog.text
    assert checkpoint_file.exists() and audit_verify().ok


def test_a_hand_written_checkpoint_is_refused(checkpoint_file):
    sealing_run(2)
    forged = Checkpoint(seq=99, hash="0" * 64, key_id="dev", at="2026-01-01T00:00:00+00:00")
    with checkpoint_file.open("a") as handle:
        handle.write(forged.to_json() + "\n")
        handle.write("not json\n")
    report = audit_verify()
    assert not report.ok
    assert any("line 2: its MAC does not match" in p for p in report.problems)
    assert any("line 3: not a checkpoint" in p for p in report.problems)


def test_verify_without_any_checkpoint_says_what_it_cannot_check(checkpoint_file):
    record(2)
    audit_seal()
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "cannot be detected" in out.getvalue() and "intact" in out.getvalue()


def test_an_unreadable_checkpoints_copy_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="--checkpoints: cannot read"):
        call_command("verify_audit", "--checkpoints", str(tmp_path / "missing.jsonl"))


# --- the attacks --------------------------------------------------------------------------
def test_a_removed_tail_is_detected(checkpoint_file):
    sealing_run(3)
    sealing_run(3, start=3)
    all_seqs = seqs()
    newest = AuditSeal.objects.filter(seq__in=all_seqs[3:])
    event_ids = list(newest.values_list("event_id", flat=True))
    with owner_sql() as cursor:
        cursor.execute("DELETE FROM core_auditseal WHERE seq >= %s", [all_seqs[3]])
        cursor.execute(
            "DELETE FROM core_auditevent WHERE id = ANY(%s)"
            if IS_POSTGRES
            else f"DELETE FROM core_auditevent WHERE id IN ({','.join(['%s'] * len(event_ids))})",
            [event_ids] if IS_POSTGRES else event_ids,
        )
    # What is left is a perfectly linked chain: only the checkpoint knows it was longer.
    verify_fails("the newest sealed events were removed", first_bad=all_seqs[2] + 1)


def test_a_removed_tail_is_detected_against_a_copy_kept_elsewhere(checkpoint_file, tmp_path):
    sealing_run(2)
    sealing_run(2, start=2)
    copy = tmp_path / "elsewhere.jsonl"
    copy.write_text(checkpoint_file.read_text())
    all_seqs = seqs()
    with owner_sql() as cursor:
        cursor.execute("DELETE FROM core_auditseal WHERE seq >= %s", [all_seqs[2]])
    # The same person also rewrote the local file (they own this host too): it alone no
    # longer knows (the two events whose seals went are simply waiting to be sealed again).
    checkpoint_file.write_text(checkpoint_file.read_text().splitlines()[0] + "\n")
    assert audit_verify().ok
    verify_fails(
        "the newest sealed events were removed", first_bad=all_seqs[1] + 1, checkpoints=str(copy)
    )


def test_a_deleted_event_is_detected(checkpoint_file):
    events = sealing_run(5)
    target = events[2]
    seq = AuditSeal.objects.get(event_id=target.pk).seq
    with owner_sql() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [target.pk])
    verify_fails(f"event {target.pk} was removed", first_bad=seq)


def test_a_deleted_event_with_its_seal_and_a_rechained_rest_is_detected(checkpoint_file):
    events = sealing_run(5)
    target = events[1]
    seq = AuditSeal.objects.get(event_id=target.pk).seq
    with owner_sql() as cursor:
        cursor.execute("DELETE FROM core_auditseal WHERE seq = %s", [seq])
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [target.pk])
    rechain_from(seq + 1)
    verify_fails("does not match its seal", first_bad=seq + 1)


def test_an_edited_event_with_every_later_seal_recomputed_is_detected(checkpoint_file):
    """The hole this issue closes: with sha256 alone, this passed verification."""
    events = sealing_run(6)
    target = events[2]
    seq = AuditSeal.objects.get(event_id=target.pk).seq
    with owner_sql() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET actor_label = 'someone else' WHERE id = %s", [target.pk]
        )
    rechain_from(seq)
    verify_fails(f"seal {seq}: event {target.pk} does not match its seal", first_bad=seq)


def test_an_edited_event_rechained_as_legacy_links_is_detected(checkpoint_file):
    events = sealing_run(6)
    target = events[3]
    seq = AuditSeal.objects.get(event_id=target.pk).seq
    with owner_sql() as cursor:
        cursor.execute(
            "UPDATE core_auditevent SET verb = 'forged.thing.done' WHERE id = %s", [target.pk]
        )
    rechain_from(seq, key_id="")
    verify_fails("a plain sha256 link after keyed ones", first_bad=seq)


def test_a_whole_history_rechained_as_legacy_links_is_detected(checkpoint_file):
    """No keyed seal left to contradict it: the checkpoints outside the database do."""
    events = sealing_run(2)
    sealing_run(2, start=2)
    cast = "::jsonb" if IS_POSTGRES else ""
    with owner_sql() as cursor:
        cursor.execute(
            f"UPDATE core_auditevent SET data = %s{cast} WHERE id = %s",
            [json.dumps({"i": 99}), events[0].pk],
        )
    rechain_from(seqs()[0], key_id="")
    # Every link is consistent again; only the first checkpoint's hash disagrees.
    verify_fails("differs from the checkpoint", first_bad=seqs()[1])


@pytest.mark.skipif(not IS_POSTGRES, reason="the triggers exist on PostgreSQL only")
@pytest.mark.parametrize("table", ["core_auditevent", "core_auditseal", "core_auditsubject"])
def test_postgresql_refuses_truncate_without_the_test_setting(table):
    record(2)
    audit_seal()
    with (
        pytest.raises(DatabaseError, match="TRUNCATE on .* refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT set_config('failsafe.allow_audit_truncate', 'off', true)")
        cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.count() == 2 and AuditSeal.objects.count() == 2


@pytest.mark.skipif(not IS_POSTGRES, reason="the triggers exist on PostgreSQL only")
def test_the_test_settings_session_may_truncate():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('failsafe.allow_audit_truncate', true)")
        assert cursor.fetchone()[0] == "on"
