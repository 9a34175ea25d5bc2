"""Core's state machine itself, on review items (any model with a status column would do)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from reviewapp.core import state, verbs
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict
from reviewapp.core.models import AuditEvent
from reviewapp.models import ReviewItem
from tests.delivery.factories import make_item
from tests.factories import MLModelFactory

S = ReviewItem.Status
ACTOR = Actor.system("tests")
# The test machine's verbs are declared like an app's, so strict verb checking stays on.
verbs.register(
    prefix="tests.",
    verbs={
        "tests.review_item.held": "Held (test)",
        "tests.review_item.put_back": "Put back (test)",
    },
)

MACHINE = state.Machine(
    model=ReviewItem,
    events={
        "hold": state.transition(S.PENDING, S.ESCALATED, "tests.review_item.held"),
        "put_back": state.transition(
            {S.ESCALATED, S.DEFERRED}, {S.PENDING, S.DEFERRED}, "tests.review_item.put_back"
        ),
    },
    snapshot={"status": "status", "generation": "claim_generation"},
    match=("claim_generation",),
)


@pytest.fixture
def items(db):
    model = MLModelFactory()
    return [make_item(model) for _ in range(3)]


def events():
    return AuditEvent.objects.filter(verb__startswith="tests.")


def row(item):
    return ReviewItem.objects.values("status", "claim_generation", "updated_at").get(pk=item.pk)


def test_apply_changes_the_row_stamps_it_and_audits_it(items):
    item = items[0]
    seen = row(item)
    state.apply(MACHINE, instance=item, event="hold", actor=ACTOR, data={"why": "test"})
    now = row(item)
    assert now["status"] == S.ESCALATED and now["updated_at"] > seen["updated_at"]
    assert item.status == S.ESCALATED and item.updated_at == now["updated_at"]
    (event,) = events()
    assert event.verb == "tests.review_item.held"
    assert (event.target_type, event.target_id) == ("reviewapp.reviewitem", str(item.pk))
    assert event.before == {"status": "pending", "generation": 0}
    assert event.after == {"status": "escalated", "generation": 0}
    assert event.data == {"why": "test"}


def test_a_disallowed_source_is_refused_without_a_write(items):
    item = items[0]
    seen = row(item)
    with CaptureQueriesContext(connection) as queries, pytest.raises(Conflict) as exc:
        state.apply(MACHINE, instance=item, event="put_back", actor=ACTOR)
    assert exc.value.code == "invalid_state" and exc.value.status == 409
    assert queries.captured_queries == []
    assert row(item) == seen and item.status == S.PENDING and not events().exists()


def test_a_target_the_event_cannot_reach_is_a_programming_error(items):
    with pytest.raises(ValueError):
        state.apply(MACHINE, instance=items[0], event="hold", to=S.DECIDED, actor=ACTOR)


def test_a_concurrent_change_loses_the_conditional_update_and_nothing_is_written(items):
    item = items[0]  # as read by us
    # Meanwhile someone else claimed and released it: same status, a newer generation.
    ReviewItem.objects.filter(pk=item.pk).update(claim_generation=1)
    theirs = row(item)
    with pytest.raises(Conflict) as exc:
        state.apply(MACHINE, instance=item, event="hold", actor=ACTOR)
    assert exc.value.code == "stale"
    assert row(item) == theirs and item.status == S.PENDING and not events().exists()

    other = items[1]
    ReviewItem.objects.filter(pk=other.pk).update(status=S.ESCALATED)
    with pytest.raises(Conflict):
        state.apply(MACHINE, instance=other, event="hold", actor=ACTOR)
    # An expectation of the caller's that no longer holds loses the same way.
    with pytest.raises(Conflict):
        state.apply(MACHINE, instance=items[2], event="hold", actor=ACTOR, expect={"priority": -1})
    assert row(items[2])["status"] == S.PENDING and not events().exists()


def test_the_audit_event_commits_and_rolls_back_with_the_callers_transaction(items):
    item = items[0]
    with pytest.raises(RuntimeError), transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            state.apply(MACHINE, instance=item, event="hold", actor=ACTOR)
        # No savepoint of its own inside the caller's transaction: update and event only.
        assert not any("SAVEPOINT" in q["sql"].upper() for q in queries.captured_queries)
        assert len(queries.captured_queries) == 2
        raise RuntimeError("the caller fails after the transition")
    assert row(item)["status"] == S.PENDING and not events().exists()

    with transaction.atomic():
        state.apply(MACHINE, instance=items[1], event="hold", actor=ACTOR)
    assert row(items[1])["status"] == S.ESCALATED and events().count() == 1


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_change_and_its_event_commit_together(monkeypatch):
    item = make_item(MLModelFactory())

    def broken(**kwargs):
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(state, "audit_record", broken)
    assert not connection.in_atomic_block
    with pytest.raises(RuntimeError):
        state.apply(MACHINE, instance=item, event="hold", actor=ACTOR)
    assert row(item)["status"] == S.PENDING


def test_apply_many_changes_only_rows_still_in_a_source_status(items):
    a, b, c = items
    ReviewItem.objects.filter(pk=b.pk).update(status=S.DECIDED)
    before = {i.pk: row(i) for i in items}
    changed = state.apply_many(
        MACHINE, event="hold", ids=[a.pk, b.pk, c.pk], changes={"priority": 77}
    )
    assert sorted(changed) == sorted([a.pk, c.pk])
    assert row(b) == before[b.pk]
    for i in (a, c):
        now = ReviewItem.objects.get(pk=i.pk)
        assert now.status == S.ESCALATED and now.priority == 77
        assert now.updated_at > before[i.pk]["updated_at"]
    assert not events().exists()  # the caller audits the batch
    # Once moved on, the same call changes nothing.
    assert state.apply_many(MACHINE, event="hold", ids=[a.pk, c.pk]) == []


def test_apply_many_with_values_per_row(items):
    a, b, c = items
    ReviewItem.objects.filter(pk__in=[a.pk, b.pk]).update(status=S.ESCALATED)
    changed = state.apply_many(
        MACHINE,
        event="put_back",
        rows={
            a.pk: {"status": S.DEFERRED, "priority": 5},
            b.pk: {"status": S.PENDING, "priority": 6},
            c.pk: {"status": S.PENDING, "priority": 7},  # still pending: not a source
        },
    )
    assert sorted(changed) == sorted([a.pk, b.pk])
    got = dict(ReviewItem.objects.values_list("pk", "status"))
    assert got == {a.pk: S.DEFERRED, b.pk: S.PENDING, c.pk: S.PENDING}
    assert ReviewItem.objects.get(pk=c.pk).priority != 7
    assert ReviewItem.objects.get(pk=b.pk).priority == 6
    with pytest.raises(ValueError):
        state.apply_many(MACHINE, event="put_back", rows={a.pk: {"status": S.DECIDED}})


def test_the_apps_machines_name_verbs_by_app_entity_and_past_participle():
    from catalog.services import FAILURE_MODE, REVISION
    from reviewapp.delivery.services import DELIVERY
    from reviewapp.services.review_state import PREDICTION, REVIEW_ITEM

    for machine, prefix in [
        (REVIEW_ITEM, "queue.review_item."),
        (PREDICTION, "queue.prediction."),
        (DELIVERY, "delivery.delivery."),
        (FAILURE_MODE, "catalog.failure_mode."),
        (REVISION, "catalog.revision."),
    ]:
        for name, t in machine.events.items():
            assert t.verb.startswith(prefix) and t.verb.count(".") == 2, (name, t.verb)
            assert t.sources and t.targets


def test_apply_many_rows_store_json_times_and_keys_as_the_orm_would(items):
    from django.utils import timezone

    from reviewapp.models import Prediction
    from reviewapp.services.review_state import PREDICTION

    a, b = (item.prediction for item in items[:2])
    Prediction.objects.filter(pk__in=[a.pk, b.pk]).update(status=Prediction.Status.RECEIVED)
    when = timezone.now()
    changed = state.apply_many(
        PREDICTION,
        event="route",
        rows={
            a.pk: {
                "status": Prediction.Status.IN_REVIEW,
                "reason_details": {"confidence": {"value": 0.4, "note": "naïve"}},
                "fallback": None,
                "routed_at": when,
                "policy_version": a.policy_version,
            },
            b.pk: {
                "status": Prediction.Status.PASSED,
                "reason_details": {},
                "fallback": {"action": "hold"},
                "routed_at": when,
                "policy_version": None,
            },
        },
    )
    assert sorted(changed) == sorted([a.pk, b.pk])
    a2, b2 = Prediction.objects.get(pk=a.pk), Prediction.objects.get(pk=b.pk)
    assert a2.status == "in_review" and b2.status == "passed"
    assert a2.reason_details == {"confidence": {"value": 0.4, "note": "naïve"}}
    assert a2.fallback is None and b2.fallback == {"action": "hold"}
    assert a2.routed_at == when == b2.routed_at
    assert a2.policy_version_id == a.policy_version_id and b2.policy_version_id is None
    assert Prediction.objects.filter(pk=a.pk, fallback__isnull=True).exists()  # SQL NULL
