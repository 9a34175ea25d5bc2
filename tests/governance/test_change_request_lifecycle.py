"""Staleness, scheduled apply (beat), expiry (beat) and rebase."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, PermissionDenied
from reviewapp.core.models import AuditEvent
from reviewapp.governance import selectors, services, tasks
from reviewapp.governance.models import Approval, ChangeRequest, PolicyVersion
from tests.factories import UserFactory, make_policy

from .cr_helpers import approve, give_evidence, proposal, submitted

pytestmark = pytest.mark.django_db
S = ChangeRequest.Status


def apply_other(model, committee, **changes):
    """Another request, applied: the model's active policy moves."""
    other, digest = submitted(model, UserFactory(roles=["lead"]), proposal(**changes))
    approve(other, committee[0], digest)
    return approve(other, committee[1], digest)


# --- staleness ------------------------------------------------------------------------------
def test_applying_one_request_makes_the_others_stale_and_lapses_their_votes(
    fraud_model, proposer, committee
):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[2], digest)
    draft = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(min_confidence=0.9),
        rationale="Another idea.",
    )  # fmt: skip
    other = apply_other(fraud_model, committee, min_confidence=0.6)
    for request in (cr, draft):
        request.refresh_from_db()
        assert request.stale and request.stale_version == other.applied_version
        assert request.stale_actor == "cole"  # the vote that reached quorum applied it
        assert request.stale_by == committee[1]
    assert cr.status == S.IN_REVIEW  # stale runs beside the state
    assert Approval.objects.get(change_request=cr).lapsed_at is not None
    assert AuditEvent.objects.filter(verb="governance.change_request.marked_stale").count() == 2


def test_a_version_activated_outside_a_request_also_makes_requests_stale(fraud_model, proposer):
    cr, _ = submitted(fraud_model, proposer)
    make_policy(fraud_model, proposal(min_confidence=0.61))  # tests' direct path
    cr.refresh_from_db()
    assert cr.stale and cr.stale_actor == "tests"


def test_a_stale_request_cannot_be_applied(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    ChangeRequest.objects.filter(pk=cr.pk).update(status=S.APPROVED, stale=True, stale_version=9)
    with pytest.raises(Conflict) as caught:
        services.change_request_apply(change_request_id=cr.pk, actor=Actor.system("t"))
    assert caught.value.code == "stale"
    assert PolicyVersion.objects.filter(model_slug="card-fraud").count() == 1


def test_the_proposer_rebases_onto_the_active_version(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    other = apply_other(fraud_model, committee, min_confidence=0.6)
    with pytest.raises(PermissionDenied):
        services.change_request_rebase(change_request_id=cr.pk, user=committee[0])
    services.change_request_rebase(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert not cr.stale and cr.base_version == other.applied_version
    assert cr.status == S.IN_REVIEW and cr.revision == 2 and cr.evidence_hash == ""
    digest = give_evidence(cr)
    approve(cr, committee[0], digest)
    assert approve(cr, committee[1], digest).status == S.APPLIED


def test_a_rebased_approved_request_goes_back_to_review(fraud_model, proposer, committee):
    future = timezone.now() + dt.timedelta(days=1)
    cr, digest = submitted(fraud_model, proposer, scheduled_for=future)
    approve(cr, committee[0], digest)
    assert approve(cr, committee[1], digest).status == S.SCHEDULED
    apply_other(fraud_model, committee, min_confidence=0.6)
    services.change_request_rebase(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert cr.status == S.IN_REVIEW and selectors.quorum(cr).approvals == 0


def test_kinds_go_stale_separately(fraud_model, proposer, committee):
    settings_cr = services.change_request_create(
        model_slug="card-fraud", kind="model_settings", user=proposer, rationale="Profile.",
        document={"criticality": "critical", "cost_of_wrong_decision": 120,
                  "cost_per_hour_of_delay": 30, "regulatory_class": "regulated"},
    )  # fmt: skip
    apply_other(fraud_model, committee, min_confidence=0.6)
    settings_cr.refresh_from_db()
    assert not settings_cr.stale


# --- scheduled apply ------------------------------------------------------------------------
def test_a_scheduled_request_applies_at_its_time_through_the_beat_task(
    fraud_model, proposer, committee
):
    cr, digest = submitted(
        fraud_model, proposer, scheduled_for=timezone.now() + dt.timedelta(hours=2)
    )
    approve(cr, committee[0], digest)
    cr = approve(cr, committee[1], digest)
    assert cr.status == S.SCHEDULED
    assert tasks.apply_due() == 0  # not yet
    ChangeRequest.objects.filter(pk=cr.pk).update(
        scheduled_for=timezone.now() - dt.timedelta(seconds=1)
    )
    assert tasks.apply_due() == 1
    cr.refresh_from_db()
    assert cr.status == S.APPLIED and cr.applied_version == 2
    assert tasks.apply_due() == 0  # exactly once
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).change_request == cr


def test_a_stale_scheduled_request_is_suspended(fraud_model, proposer, committee):
    cr, digest = submitted(
        fraud_model, proposer, scheduled_for=timezone.now() + dt.timedelta(hours=2)
    )
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    apply_other(fraud_model, committee, min_confidence=0.6)
    ChangeRequest.objects.filter(pk=cr.pk).update(
        scheduled_for=timezone.now() - dt.timedelta(seconds=1)
    )
    assert tasks.apply_due() == 0
    cr.refresh_from_db()
    assert cr.status == S.SCHEDULED and cr.stale


def test_the_schedule_and_a_late_apply_race_to_one_version(fraud_model, proposer, committee):
    cr, digest = submitted(
        fraud_model, proposer, scheduled_for=timezone.now() + dt.timedelta(hours=2)
    )
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    ChangeRequest.objects.filter(pk=cr.pk).update(
        scheduled_for=timezone.now() - dt.timedelta(seconds=1)
    )
    services.change_request_apply(change_request_id=cr.pk, actor=Actor.system("retry"))
    with pytest.raises(Conflict):
        services.change_request_apply(change_request_id=cr.pk, actor=Actor.system("retry"))
    assert tasks.apply_due() == 0
    assert PolicyVersion.objects.filter(model_slug="card-fraud").count() == 2


# --- expiry -----------------------------------------------------------------------------------
def test_open_requests_untouched_for_14_days_expire(fraud_model, proposer, committee):
    old = timezone.now() - dt.timedelta(days=15)
    draft = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(), rationale="Old idea."
    )
    fresh, _ = submitted(fraud_model, proposer, proposal(min_confidence=0.71))
    ChangeRequest.objects.filter(pk=draft.pk).update(updated_at=old)
    assert tasks.expire_requests() == 1
    draft.refresh_from_db()
    fresh.refresh_from_db()
    assert draft.status == S.EXPIRED and fresh.status == S.IN_REVIEW
    assert AuditEvent.objects.filter(verb="governance.change_request.expired").count() == 1


def test_a_comment_keeps_a_request_alive(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer)
    ChangeRequest.objects.filter(pk=cr.pk).update(updated_at=timezone.now() - dt.timedelta(days=15))
    services.change_request_comment(change_request_id=cr.pk, user=committee[0], body="Still here.")
    assert tasks.expire_requests() == 0


def test_a_scheduled_request_expires_only_while_stale(fraud_model, proposer, committee):
    cr, digest = submitted(
        fraud_model, proposer, scheduled_for=timezone.now() + dt.timedelta(days=30)
    )
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    old = timezone.now() - dt.timedelta(days=15)
    ChangeRequest.objects.filter(pk=cr.pk).update(updated_at=old)
    assert tasks.expire_requests() == 0
    ChangeRequest.objects.filter(pk=cr.pk).update(stale=True, updated_at=old)
    assert tasks.expire_requests() == 1
