"""A submitted change request gets its evidence computed on real traffic and stored with its
revision; votes are then bound to that evidence's hash."""

from __future__ import annotations

import datetime as dt

import pytest

from reviewapp.governance import services
from reviewapp.governance.evidence import evidence_compute
from reviewapp.governance.models import ChangeRequest
from reviewapp.models import MLModel

from .cr_helpers import proposal
from .test_evidence import traffic  # noqa: F401 - the fixture: two days of routed traffic


@pytest.mark.usefixtures("traffic")
def test_submit_computes_and_stores_the_evidence_votes_are_bound_to(
    committee,
    proposer,
    eager,
    django_capture_on_commit_callbacks,
):
    model = MLModel.objects.get(slug="card-fraud")
    cr = services.change_request_create(
        model_slug=model.slug,
        user=proposer,
        document=proposal(min_confidence=0.80),
        rationale="Review the borderline band too.",
    )
    assert ChangeRequest.objects.get(pk=cr.pk).evidence_hash == ""
    with django_capture_on_commit_callbacks(execute=True):
        services.change_request_submit(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    # The same window as the task's (its end is "now" to the second: recompute over it).
    window_end = dt.datetime.fromisoformat(cr.evidence_summary["evidence"]["window"]["end"])
    expected = evidence_compute(
        model_slug=model.slug,
        proposed_rules=cr.document,
        base_version=cr.base_version,
        until=window_end,
    )
    assert cr.evidence_hash == expected.hash
    summary = cr.evidence_summary
    assert summary["replay_mismatches"] == 0
    assert summary["evidence"]["hash"] == expected.hash
    # A threshold of 0.80 routes 0.75 and 0.78 (day 1) and 0.72 (day 2) too: 3 → 6 reviewed.
    assert summary["reviewed_volume_change"] == pytest.approx(1.0)
    services.change_request_approve(
        change_request_id=cr.pk, user=committee[0], evidence_hash=cr.evidence_hash
    )
    assert cr.approvals.filter(lapsed_at__isnull=True).count() == 1


@pytest.mark.usefixtures("traffic")
def test_evidence_of_an_older_revision_is_not_stored(
    proposer,
    eager,
    django_capture_on_commit_callbacks,
):
    model = MLModel.objects.get(slug="card-fraud")
    cr = services.change_request_create(
        model_slug=model.slug, user=proposer, document=proposal(), rationale="Try 0.75."
    )
    services.change_request_submit(change_request_id=cr.pk, user=proposer)  # hook not run
    with django_capture_on_commit_callbacks(execute=True):
        services.change_request_edit(
            change_request_id=cr.pk, user=proposer, rationale="Try 0.75, for the borderline."
        )
    cr.refresh_from_db()
    assert cr.evidence_hash  # the edit's revision got its evidence
    from reviewapp.governance.services.evidence import change_request_evidence_ready

    stale = evidence_compute(model_slug=model.slug, proposed_rules=proposal(min_confidence=0.9))
    change_request_evidence_ready(
        revision={"change_request_id": cr.pk, "revision": cr.revision - 1}, evidence=stale
    )
    cr.refresh_from_db()
    assert cr.evidence_hash != stale.hash


@pytest.mark.usefixtures("traffic")
def test_evidence_state_moves_pending_running_ready_and_an_edit_resets_it(
    proposer, eager, django_capture_on_commit_callbacks
):
    from reviewapp.governance.services.evidence import change_request_evidence_started

    cr = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(min_confidence=0.80),
        rationale="Borderline band.",
    )  # fmt: skip
    assert cr.evidence_state == "pending"
    change_request_evidence_started(revision={"change_request_id": cr.pk, "revision": 99})
    assert ChangeRequest.objects.get(pk=cr.pk).evidence_state == "pending"  # not this revision
    change_request_evidence_started(revision={"change_request_id": cr.pk, "revision": 1})
    assert ChangeRequest.objects.get(pk=cr.pk).evidence_state == "running"
    with django_capture_on_commit_callbacks(execute=True):
        services.change_request_submit(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert cr.evidence_state == "ready" and cr.evidence_hash
    services.change_request_edit(
        change_request_id=cr.pk, user=proposer, document=proposal(min_confidence=0.81)
    )
    cr.refresh_from_db()
    assert (cr.evidence_state, cr.evidence_hash) == ("pending", "")


@pytest.mark.usefixtures("traffic")
def test_evidence_that_cannot_be_computed_is_failed_with_the_reason(
    proposer, eager, django_capture_on_commit_callbacks
):
    from reviewapp.core.models import AuditEvent

    cr = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(min_confidence=0.80),
        rationale="Borderline band.",
    )  # fmt: skip
    # The base version no longer exists as far as the replay knows: the task reports failure.
    ChangeRequest.objects.filter(pk=cr.pk).update(base_version=999)
    with django_capture_on_commit_callbacks(execute=True):
        services.change_request_submit(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert cr.evidence_state == "failed"
    assert cr.evidence_hash == ""
    assert cr.evidence_errors and all(isinstance(v, list) for v in cr.evidence_errors.values())
    assert AuditEvent.objects.filter(verb="governance.change_request.evidence_failed").exists()
