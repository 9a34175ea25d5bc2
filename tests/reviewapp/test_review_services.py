import datetime as dt

import pytest
from django.db.models import Q
from django.test.utils import override_settings
from django.utils import timezone

from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.models import Decision, PoolMembership, Prediction, Purpose, ReviewItem
from reviewapp.services.claims import (
    CLAIM_ORDER,
    _claim_one,
    lease_seconds,
    pool_model_ids,
    review_item_assign,
    review_item_claim_next,
    review_item_release,
    review_item_renew,
    review_items_bulk,
)
from reviewapp.services.decisions import decision_undo, review_item_decide
from reviewapp.services.pools import guideline_publish, pool_member_add, pool_member_remove
from reviewapp.services.review_state import TRANSITIONS
from reviewapp.services.sweeps import review_deferred_wake, review_leases_expire, review_sla_sweep

from . import test_queue_fixtures as fx

make_items = fx.make_items
pooled_reviewer = fx.pooled_reviewer
other_reviewer = fx.other_reviewer
radiology_model = fx.radiology_model

S = ReviewItem.Status
pytestmark = pytest.mark.django_db


def test_claim_next_takes_highest_priority_then_earliest_sla(pooled_reviewer, fraud_model):
    low, high, high_later = make_items(fraud_model, 3)
    ReviewItem.objects.filter(pk=low.pk).update(priority=10)
    ReviewItem.objects.filter(pk=high.pk).update(
        priority=90, sla_due_at=timezone.now() + dt.timedelta(minutes=5)
    )
    ReviewItem.objects.filter(pk=high_later.pk).update(
        priority=90, sla_due_at=timezone.now() + dt.timedelta(minutes=50)
    )
    item = review_item_claim_next(user=pooled_reviewer)
    assert item.pk == high.pk
    assert item.status == S.CLAIMED and item.claimed_by_id == pooled_reviewer.pk
    assert item.claim_expires_at > timezone.now() + dt.timedelta(minutes=14)
    assert AuditEvent.objects.filter(
        verb="queue.review_item.claimed", target_id=str(item.pk)
    ).exists()


def test_claims_do_not_wait_for_the_disk_but_decisions_do(pooled_reviewer, fraud_model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("asynchronous commit is a PostgreSQL setting")
    make_items(fraud_model, 1)
    with CaptureQueriesContext(connection) as claim:
        item = review_item_claim_next(user=pooled_reviewer)
    statements = [q["sql"] for q in claim.captured_queries]
    lowered = statements.index("SET LOCAL synchronous_commit = off")
    claimed = next(i for i, sql in enumerate(statements) if "UPDATE" in sql)
    assert lowered < claimed  # set in the claim's own transaction, before its write
    with CaptureQueriesContext(connection) as decide:
        fx.decide(item, pooled_reviewer, "accept")
    assert not any("synchronous_commit" in q["sql"] for q in decide.captured_queries)


def test_claim_next_resumes_held_item_and_skips_claimed(
    pooled_reviewer, other_reviewer, fraud_model
):
    a, b = make_items(fraud_model, 2)
    first = review_item_claim_next(user=pooled_reviewer)
    assert review_item_claim_next(user=pooled_reviewer).pk == first.pk  # resume, not a second claim
    second = review_item_claim_next(user=other_reviewer)
    assert second.pk != first.pk
    assert review_item_claim_next(user=ReviewItem.objects.get(pk=b.pk).claimed_by) is not None
    from tests.factories import UserFactory

    third = UserFactory(username="zoe", roles=["reviewer"])
    assert review_item_claim_next(user=third) is None  # not in any pool


def test_pools_keep_models_apart(pooled_reviewer, radiology_model):
    make_items(radiology_model, 2, confidence=0.5, label="nodule")
    assert review_item_claim_next(user=pooled_reviewer) is None


def test_claim_next_across_several_pools_takes_the_most_urgent(
    pooled_reviewer, fraud_model, radiology_model
):
    from reviewapp.models import PoolMembership

    PoolMembership.objects.create(model=radiology_model, user=pooled_reviewer)
    (fraud,) = make_items(fraud_model, 1)
    (scan,) = make_items(radiology_model, 1, confidence=0.5, label="nodule")
    ReviewItem.objects.filter(pk=fraud.pk).update(priority=10)
    ReviewItem.objects.filter(pk=scan.pk).update(priority=80)
    assert review_item_claim_next(user=pooled_reviewer).pk == scan.pk
    assert review_item_claim_next(user=pooled_reviewer).pk == scan.pk  # held: resumed
    fx.decide(ReviewItem.objects.get(pk=scan.pk), pooled_reviewer, "accept")
    assert review_item_claim_next(user=pooled_reviewer).pk == fraud.pk


def test_one_statement_claim_writes_what_the_general_path_writes(pooled_reviewer, fraud_model):
    """On PostgreSQL "Start reviewing" claims in one SQL statement; every other claim goes
    through item_transition. Both must leave the same row and the same audit event."""
    from django.db import connection
    from django.db.models import Q

    from reviewapp.services.review_state import pg_claim_next

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement claim is PostgreSQL's")
    a, b = make_items(fraud_model, 2)
    ReviewItem.objects.filter(pk__in=[a.pk, b.pk]).update(claim_generation=4)
    now = timezone.now()
    lease_ends = now + dt.timedelta(seconds=lease_seconds())
    data = {"lease_seconds": lease_seconds(), "via": "next"}
    one = pg_claim_next(
        user=pooled_reviewer,
        model_ids=[fraud_model.pk],
        order=CLAIM_ORDER,
        lease_ends=lease_ends,
        data=data,
    )
    other = _claim_one(Q(pk=b.pk if one.pk == a.pk else a.pk), "claim", pooled_reviewer, now, data)

    def row(item):
        values = ReviewItem.objects.filter(pk=item.pk).values().get()
        lease = values["claim_expires_at"] - values["claimed_at"]
        for moment in ("claimed_at", "claim_expires_at", "updated_at", "id", "prediction_id"):
            values.pop(moment)
        return values, round(lease.total_seconds())

    assert row(one) == row(other)
    assert one.claim_generation == 5 and one.claimed_by_id == pooled_reviewer.pk

    def event(item):
        claims = AuditEvent.objects.filter(verb="queue.review_item.claimed", target_id=str(item.pk))
        values = claims.values().get()
        for varying in ("id", "occurred_at", "target_id"):
            values.pop(varying)
        return values

    assert event(one) == event(other)
    assert event(one)["after"] == {"status": "claimed", "claimed_by": pooled_reviewer.pk,
                                   "claim_generation": 5}  # fmt: skip
    assert event(one)["before"] == {"status": "pending", "claimed_by": None, "claim_generation": 4}


def test_one_statement_claim_picks_what_the_general_path_picks(
    pooled_reviewer, other_reviewer, fraud_model
):
    """The filters and the deferral rule of the one-statement claim pick, for every scope,
    the item the general path (the ORM query of ``_claim_one``) picks."""
    from django.db import connection, transaction

    from reviewapp.governance.rules import DRIFT_SIGNALLED, LOW_CONFIDENCE
    from reviewapp.services.claims import ClaimScope, Pools, not_deferred_by
    from reviewapp.services.review_state import pg_claim_next

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement claim is PostgreSQL's")
    items = make_items(fraud_model, 8)
    now = timezone.now()
    for n, item in enumerate(items):
        ReviewItem.objects.filter(pk=item.pk).update(
            priority=[95, 80, 72, 65, 50, 30, 90, 45][n],
            requeued=n in (0, 4),
            deferred_by=pooled_reviewer if n in (0, 6) else None,
            deferred_by_until=now + dt.timedelta(minutes=30) if n == 0 else None,
        )
        if n % 3 == 0:
            Prediction.objects.filter(pk=item.prediction_id).update(
                reason_codes=[LOW_CONFIDENCE, DRIFT_SIGNALLED]
            )
    # Review quality: a gold item served to other_reviewer only, a second review that
    # pooled_reviewer (who decided first) may not take.
    ReviewItem.objects.filter(pk=items[1].pk).update(
        purpose=Purpose.GOLD, for_reviewer=other_reviewer
    )
    ReviewItem.objects.filter(pk=items[6].pk).update(excluded_reviewer=pooled_reviewer)
    scopes = [
        ClaimScope(),
        ClaimScope(band="high"),
        ClaimScope(band="medium"),
        ClaimScope(band="low"),
        ClaimScope(reason=DRIFT_SIGNALLED),
        ClaimScope(model_id=fraud_model.pk, reason=DRIFT_SIGNALLED, band="medium"),
    ]
    live, qualifying = Pools([fraud_model.pk], [fraud_model.pk]), Pools([], [fraud_model.pk])
    for user, pools in (
        (pooled_reviewer, live),
        (other_reviewer, live),
        (other_reviewer, qualifying),
    ):
        for scope in scopes:
            expected = (
                ReviewItem.objects.filter(
                    Q(status=S.PENDING) & pools.q(user) & scope.q() & not_deferred_by(user, now)
                )
                .order_by(*CLAIM_ORDER)
                .values_list("pk", flat=True)
                .first()
            )
            with transaction.atomic():
                got = pg_claim_next(
                    user=user,
                    model_ids=pools.served,
                    live_model_ids=pools.live,
                    order=CLAIM_ORDER,
                    lease_ends=now + dt.timedelta(minutes=15),
                    data={},
                    band={"high": 2, "medium": 1, "low": 0}.get(scope.band),
                    reason=scope.reason or None,
                )
                transaction.set_rollback(True)
            assert (got.pk if got else None) == expected, (user.username, pools, scope)
            if pools is live:
                assert expected is not None


def test_engineer_cannot_claim_or_decide(engineer, pooled_reviewer, fraud_model):
    (item,) = make_items(fraud_model, 1)
    with pytest.raises(PermissionDenied):
        review_item_claim_next(user=engineer)
    held = review_item_claim_next(user=pooled_reviewer)
    with pytest.raises(PermissionDenied):
        fx.decide(held, engineer, "accept")


def test_accept_closes_item_and_sets_delivery_after_undo_window(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    with override_settings(REVIEW_UNDO_SECONDS=8):
        d = fx.decide(item, pooled_reviewer, "accept")
    assert d.final_label == "fraud" and d.predicted_label == "fraud"
    assert (d.deliver_after - d.decided_at) == dt.timedelta(seconds=8)
    item.refresh_from_db()
    assert item.status == S.DECIDED and item.claimed_by is None and item.decided_at is not None
    assert Prediction.objects.get(pk=item.prediction_id).status == Prediction.Status.DECIDED
    assert (
        AuditEvent.objects.filter(verb="queue.review_item.decided", target_id=str(item.pk)).count()
        == 1
    )


def test_override_needs_label_from_label_set_and_reason(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    for kwargs, field in [
        ({"label": "", "reason": "x"}, "label"),
        ({"label": "cat", "reason": "x"}, "label"),
        ({"label": "fraud", "reason": "x"}, "label"),
        ({"label": "legit", "reason": ""}, "reason"),
    ]:
        with pytest.raises(ServiceError) as exc:
            fx.decide(item, pooled_reviewer, "override", **kwargs)
        assert field in exc.value.errors
    assert not Decision.objects.exists()  # no partial write
    d = fx.decide(item, pooled_reviewer, "override", label="legit", reason="Known customer")
    assert d.final_label == "legit" and d.final_output["label"] == "legit"


def test_reviewer_cannot_act_on_item_someone_else_holds(
    pooled_reviewer, other_reviewer, fraud_model
):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    with pytest.raises(Conflict) as exc:
        fx.decide(item, other_reviewer, "accept")
    assert "ana holds this item" in exc.value.message
    with pytest.raises(Conflict):
        review_item_release(item_id=item.pk, user=other_reviewer)


def test_stale_generation_is_refused_never_overwritten(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    old_generation = item.claim_generation
    review_item_release(item_id=item.pk, user=pooled_reviewer, generation=old_generation)
    again = review_item_claim_next(user=pooled_reviewer)
    assert again.pk == item.pk and again.claim_generation == old_generation + 1
    with pytest.raises(Conflict) as exc:
        review_item_decide(
            item_id=item.pk, user=pooled_reviewer, action="accept", generation=old_generation
        )
    assert exc.value.status == 409 and "out of date" in exc.value.message
    assert not Decision.objects.exists()


def test_expired_lease_is_released_by_sweeper(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    ReviewItem.objects.filter(pk=item.pk).update(
        claim_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert review_leases_expire() == 1
    item.refresh_from_db()
    assert item.status == S.PENDING and item.claimed_by is None
    assert AuditEvent.objects.filter(
        verb="queue.review_item.lease_expired", target_id=str(item.pk)
    ).exists()
    with pytest.raises(Conflict) as exc:
        fx.decide(item, pooled_reviewer, "accept")
    assert "expired" in exc.value.message


def test_renew_extends_lease_only_for_holder(pooled_reviewer, other_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    ReviewItem.objects.filter(pk=item.pk).update(
        claim_expires_at=timezone.now() + dt.timedelta(seconds=5)
    )
    renewed = review_item_renew(
        item_id=item.pk, user=pooled_reviewer, generation=item.claim_generation
    )
    assert renewed.claim_expires_at > timezone.now() + dt.timedelta(minutes=14)
    with pytest.raises(Conflict):
        review_item_renew(item_id=item.pk, user=other_reviewer, generation=item.claim_generation)


def test_escalate_then_lead_takes_it(pooled_reviewer, lead, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    with pytest.raises(ServiceError) as exc:
        fx.decide(item, pooled_reviewer, "escalate")
    assert "note" in exc.value.errors
    fx.decide(item, pooled_reviewer, "escalate", note="Needs the merchant file")
    item.refresh_from_db()
    assert item.status == S.ESCALATED
    taken = review_item_claim_next(user=lead)  # leads get escalations first
    assert taken.pk == item.pk and taken.claimed_by_id == lead.pk
    review_item_release(item_id=item.pk, user=lead)
    item.refresh_from_db()
    assert item.status == S.ESCALATED  # back to the leads, not the general queue


def test_defer_with_wake_time_and_third_deferral_escalates(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    wake = timezone.now() + dt.timedelta(hours=1)
    fx.decide(item, pooled_reviewer, "defer", note="wait for chargeback", wake_at=wake)
    item.refresh_from_db()
    assert item.status == S.DEFERRED and item.defer_count == 1
    assert review_item_claim_next(user=pooled_reviewer) is None  # not offered before wake_at
    ReviewItem.objects.filter(pk=item.pk).update(wake_at=timezone.now() - dt.timedelta(seconds=1))
    assert review_deferred_wake() == 1
    for expected in (S.PENDING, S.ESCALATED):
        # A defer without a time keeps the item from its deferrer for a while: not here.
        ReviewItem.objects.filter(pk=item.pk).update(deferred_by_until=None)
        item = review_item_claim_next(user=pooled_reviewer)
        fx.decide(item, pooled_reviewer, "defer", note="still waiting")
        item.refresh_from_db()
        assert item.status == expected
    assert item.defer_count == 3
    with pytest.raises(ServiceError) as exc:
        # past wake times are refused
        make_items(fraud_model, 1, prefix="w")
        other = review_item_claim_next(user=pooled_reviewer)
        fx.decide(
            other,
            pooled_reviewer,
            "defer",
            note="n",
            wake_at=timezone.now() - dt.timedelta(minutes=1),
        )
    assert "wake_at" in exc.value.errors


def test_defer_without_time_goes_behind_its_band_and_to_someone_else(
    pooled_reviewer, other_reviewer, fraud_model
):
    """The defect: "Deferred by ana", then "Claimed by ana" in the same minute. A defer
    without a time sends the item behind the others of its priority band (not behind lower
    bands) and keeps it from the reviewer who deferred it for QUEUE_DEFER_EXCLUSION_MINUTES;
    other reviewers get it in its turn at once."""
    first, high, medium = make_items(fraud_model, 3)
    for item, priority in ((first, 95), (high, 75), (medium, 60)):
        ReviewItem.objects.filter(pk=item.pk).update(priority=priority)
    held = review_item_claim_next(user=pooled_reviewer)
    assert held.pk == first.pk
    with override_settings(QUEUE_DEFER_EXCLUSION_MINUTES=30):
        fx.decide(held, pooled_reviewer, "defer", note="need the chargeback history")
    first.refresh_from_db()
    assert first.status == S.PENDING and first.requeued and first.queue_band == 2
    assert first.deferred_by_id == pooled_reviewer.pk
    left = (first.deferred_by_until - timezone.now()).total_seconds()
    assert 29 * 60 < left <= 30 * 60
    # Another reviewer: the rest of the high band first, then the deferred item, then medium.
    assert review_item_claim_next(user=other_reviewer).pk == high.pk
    fx.decide(ReviewItem.objects.get(pk=high.pk), other_reviewer, "accept")
    assert review_item_claim_next(user=other_reviewer).pk == first.pk
    review_item_release(item_id=first.pk, user=other_reviewer)
    # The deferrer gets the next item instead, and nothing at all once only it is left.
    assert review_item_claim_next(user=pooled_reviewer).pk == medium.pk
    fx.decide(ReviewItem.objects.get(pk=medium.pk), pooled_reviewer, "accept")
    assert review_item_claim_next(user=pooled_reviewer) is None
    # After the exclusion, it is theirs to take again.
    ReviewItem.objects.filter(pk=first.pk).update(
        deferred_by_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert review_item_claim_next(user=pooled_reviewer).pk == first.pk


def test_undoing_a_defer_without_time_puts_the_item_back_in_its_place(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    d = fx.decide(item, pooled_reviewer, "defer", note="later")
    reopened = decision_undo(decision_id=d.pk, user=pooled_reviewer)
    reopened.refresh_from_db()
    assert reopened.status == S.CLAIMED and reopened.claimed_by_id == pooled_reviewer.pk
    assert not reopened.requeued
    assert reopened.deferred_by_id is None and reopened.deferred_by_until is None


def test_defer_with_a_time_is_not_sent_behind_nor_kept_from_its_deferrer(
    pooled_reviewer, fraud_model
):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    wake = timezone.now() + dt.timedelta(hours=1)
    fx.decide(item, pooled_reviewer, "defer", note="after the call", wake_at=wake)
    item.refresh_from_db()
    assert item.status == S.DEFERRED and not item.requeued and item.deferred_by_id is None


def test_undo_reopens_to_same_reviewer_and_is_audited(pooled_reviewer, other_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    d = fx.decide(item, pooled_reviewer, "override", label="legit", reason="r")
    with pytest.raises(PermissionDenied):
        decision_undo(decision_id=d.pk, user=other_reviewer)
    reopened = decision_undo(decision_id=d.pk, user=pooled_reviewer)
    assert reopened.status == S.CLAIMED and reopened.claimed_by_id == pooled_reviewer.pk
    d.refresh_from_db()
    assert d.undone_at is not None and d.undone_by_id == pooled_reviewer.pk and not d.is_final
    assert Prediction.objects.get(pk=item.prediction_id).status == Prediction.Status.IN_REVIEW
    assert AuditEvent.objects.filter(verb="queue.decision.undone", target_id=str(d.pk)).exists()
    with pytest.raises(Conflict):
        decision_undo(decision_id=d.pk, user=pooled_reviewer)


def test_undo_refused_after_grace_period(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    d = fx.decide(item, pooled_reviewer, "accept")
    Decision.objects.filter(pk=d.pk).update(deliver_after=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(Conflict) as exc:
        decision_undo(decision_id=d.pk, user=pooled_reviewer)
    assert exc.value.code == "undo_expired"


def test_lead_assigns_and_releases_in_bulk(lead, pooled_reviewer, fraud_model):
    items = make_items(fraud_model, 3)
    result = review_items_bulk(
        item_ids=[i.pk for i in items], action="assign", by=lead, assignee=pooled_reviewer
    )
    assert sorted(result.done) == sorted(i.pk for i in items)
    assert (
        ReviewItem.objects.filter(
            claimed_by=pooled_reviewer, status=S.CLAIMED, assigned_by=lead
        ).count()
        == 3
    )
    result = review_items_bulk(item_ids=[i.pk for i in items], action="release", by=lead)
    assert len(result.done) == 3 and ReviewItem.objects.filter(status=S.PENDING).count() == 3
    with pytest.raises(PermissionDenied):
        review_items_bulk(item_ids=[items[0].pk], action="release", by=pooled_reviewer)


def test_assign_requires_pool_membership(lead, fraud_model):
    from tests.factories import UserFactory

    (item,) = make_items(fraud_model, 1)
    outsider = UserFactory(username="out", roles=["reviewer"])
    with pytest.raises(ServiceError) as exc:
        review_item_assign(item_id=item.pk, assignee=outsider, by=lead)
    assert "assignee" in exc.value.errors


def test_sla_sweep_raises_priority_and_stamps_breach_once(fraud_model):
    near, breached, fine = make_items(fraud_model, 3)
    now = timezone.now()
    ReviewItem.objects.filter(pk=near.pk).update(
        sla_due_at=now + dt.timedelta(minutes=5), priority=50
    )
    ReviewItem.objects.filter(pk=breached.pk).update(
        sla_due_at=now - dt.timedelta(minutes=1), priority=50
    )
    ReviewItem.objects.filter(pk=fine.pk).update(
        sla_due_at=now + dt.timedelta(hours=5), priority=50
    )
    with override_settings(REVIEW_SLA_NEAR_SECONDS=600, REVIEW_SLA_PRIORITY_BUMP=20):
        assert review_sla_sweep() == {"near": 2, "breached": 1}
        assert review_sla_sweep() == {"near": 0, "breached": 0}
    prio = dict(ReviewItem.objects.values_list("id", "priority"))
    assert prio[near.pk] == 70 and prio[breached.pk] == 70 and prio[fine.pk] == 50
    b = ReviewItem.objects.get(pk=breached.pk)
    assert b.sla_breached_at is not None and b.status == S.PENDING  # stays open
    assert (
        AuditEvent.objects.filter(
            verb="queue.review_item.sla_breached", target_id=str(b.pk)
        ).count()
        == 1
    )


def test_transition_table_names_every_state():
    used = set()
    for t in TRANSITIONS.values():
        used |= t.sources | t.targets
    assert used == set(S.values)


def test_guideline_is_sanitised_and_versioned(lead, fraud_model, pooled_reviewer):
    v1 = guideline_publish(
        model=fraud_model,
        body="# Rules\n<script>alert(1)</script>\n**Accept** if [ok](javascript:alert(1))",
        by=lead,
    )
    assert (
        "<script" not in v1.html
        and "javascript:" not in v1.html
        and "<strong>Accept</strong>" in v1.html
    )
    v2 = guideline_publish(model=fraud_model, body="v2", by=lead)
    assert (v1.version, v2.version) == (1, 2)
    with pytest.raises(PermissionDenied):
        guideline_publish(model=fraud_model, body="x", by=pooled_reviewer)
    # --- quality (people): a new version is read before claiming (tests/quality/test_people.py)
    PoolMembership.objects.filter(user=pooled_reviewer).update(guideline_pending=False)
    # --- end quality (people)
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    d = fx.decide(item, pooled_reviewer, "accept", guideline_version_id=v2.pk)
    assert d.guideline_version_id == v2.pk


def test_pool_membership_managed_by_leads(lead, fraud_model, engineer):
    from tests.factories import UserFactory

    ravi = UserFactory(username="ravi2", roles=["reviewer"])
    pool_member_add(model=fraud_model, user=ravi, by=lead)
    assert pool_model_ids(ravi) == [fraud_model.pk]
    with pytest.raises(ServiceError):
        pool_member_add(model=fraud_model, user=engineer, by=lead)
    with pytest.raises(PermissionDenied):
        pool_member_add(model=fraud_model, user=ravi, by=ravi)
    assert pool_member_remove(model=fraud_model, user=ravi, by=lead)
    assert pool_model_ids(ravi) == []


def test_failure_mode_tags_are_checked_and_recorded_in_the_catalog(
    monkeypatch, pooled_reviewer, fraud_model
):
    catalog_selectors = pytest.importorskip("catalog.selectors")
    catalog_services = pytest.importorskip("catalog.services")
    calls = []
    monkeypatch.setattr(
        catalog_selectors,
        "failure_mode_choices",
        lambda: [catalog_selectors.FailureModeChoice("currency-drift", "Currency drift", "S2")],
    )
    monkeypatch.setattr(catalog_services, "occurrence_record", lambda **kw: calls.append(kw))
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    with pytest.raises(ServiceError) as exc:
        fx.decide(item, pooled_reviewer, "accept", failure_mode_tags=["made-up"])
    assert "failure_mode_tags" in exc.value.errors
    d = fx.decide(item, pooled_reviewer, "accept", failure_mode_tags=["currency-drift"])
    assert d.failure_mode_tags == ["currency-drift"]
    assert calls == [
        {
            "failure_mode_slug": "currency-drift",
            "source_type": "review_decision",
            "source_id": str(d.pk),
            "occurred_at": d.decided_at,
            "actor": calls[0]["actor"],
        }
    ]
