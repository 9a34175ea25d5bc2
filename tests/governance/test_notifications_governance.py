"""Who is told what about a change request (docs/governance.md), sent after commit through
core's notifications; and deactivating a user never removes their proposals, votes or
comments."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from reviewapp.core.models import AuditEvent, Notification
from reviewapp.governance import selectors, services, tasks
from reviewapp.governance.models import Approval, ChangeRequest, ChangeRequestComment
from reviewapp.governance.services import notices
from tests.factories import UserFactory

from .cr_helpers import approve, proposal, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _email_in_process(eager):
    """The email task runs in this process (no broker)."""


@pytest.fixture
def sent(django_capture_on_commit_callbacks):
    """Run the after-commit callbacks (the notices) of what happens inside the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def told(kind: str) -> dict[str, list[str]]:
    """{username: [titles]} of the notifications of ``kind``."""
    out: dict[str, list[str]] = {}
    for n in Notification.objects.filter(kind=kind).select_related("recipient").order_by("id"):
        out.setdefault(n.recipient.username, []).append(n.title)
    return out


def link(cr) -> str:
    return f"/governance/requests/{cr.pk}/"


def test_the_kinds_are_registered_with_both_channels():
    from reviewapp.core.notifications import kind_of

    for key in (
        notices.VOTE_REQUESTED,
        notices.REQUEST_ACTIVITY,
        notices.REQUEST_OUTCOME,
        notices.EMERGENCY_ROLLBACK,
        notices.RATIFICATION_OVERDUE,
    ):
        kind = kind_of(key)
        assert kind.in_app and kind.email


def test_the_committee_is_told_on_submit_and_resubmit(fraud_model, proposer, committee, sent):
    for user in committee:
        user.email = f"{user.username}@example.org"
        user.save()
    with sent():
        cr, digest = submitted(fraud_model, proposer)
    assert set(told(notices.VOTE_REQUESTED)) == {"cora", "cole", "cleo"}  # not the proposer
    note = Notification.objects.filter(kind=notices.VOTE_REQUESTED).first()
    assert note.link == link(cr) and "card-fraud" in note.title
    assert sorted(m.to[0] for m in mail.outbox) == [
        "cleo@example.org",
        "cole@example.org",
        "cora@example.org",
    ]
    with sent():
        services.change_request_request_changes(
            change_request_id=cr.pk, user=committee[0], comment="Say more."
        )
    with sent():
        services.change_request_resubmit(change_request_id=cr.pk, user=proposer)
    assert [len(t) for t in told(notices.VOTE_REQUESTED).values()] == [2, 2, 2]
    assert "Resubmitted" in told(notices.VOTE_REQUESTED)["cora"][1]


def test_a_named_approver_group_is_told_instead_of_the_committee(
    fraud_model, proposer, committee, sent
):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="fraud-approvers")
    special = UserFactory(username="fay")
    special.groups.add(group)
    services.approval_rule_set(
        model_slug="card-fraud", approver_group=group, required_approvals=1,
        user=UserFactory(username="boss", is_superuser=True),
    )  # fmt: skip
    with sent():
        submitted(fraud_model, proposer)
    assert set(told(notices.VOTE_REQUESTED)) >= {"fay"}
    assert not {"cora", "cole", "cleo"} & set(told(notices.VOTE_REQUESTED))


def test_nothing_is_told_when_the_change_rolls_back(fraud_model, proposer, committee, sent):
    cr = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(), rationale="Why not."
    )
    with sent(), pytest.raises(RuntimeError), transaction.atomic():
        services.change_request_submit(change_request_id=cr.pk, user=proposer)
        raise RuntimeError("later step failed")
    assert not Notification.objects.exists()
    assert not AuditEvent.objects.filter(verb="core.notification.sent").exists()


def test_the_proposer_hears_of_every_vote_rejection_request_and_comment(
    fraud_model, proposer, committee, sent
):
    cr, digest = submitted(fraud_model, proposer)
    with sent():
        approve(cr, committee[0], digest, comment="Looks right.")
    with sent():
        services.change_request_comment(change_request_id=cr.pk, user=committee[1], body="Hmm.")
    with sent():
        services.change_request_comment(change_request_id=cr.pk, user=proposer, body="Own.")
    with sent():
        services.change_request_request_changes(
            change_request_id=cr.pk, user=committee[1], comment="Show the capacity."
        )
    titles = told(notices.REQUEST_ACTIVITY)
    assert set(titles) == {"sam"}  # only the proposer, never about their own comment
    assert titles["sam"] == [
        f"cora approved your change request #{cr.pk} (card-fraud)",
        f"cole commented on your change request #{cr.pk} (card-fraud)",
        f"cole asked for changes to your change request #{cr.pk} (card-fraud)",  # once
    ]
    other, _ = submitted(fraud_model, proposer, proposal(min_confidence=0.72))
    with sent():
        services.change_request_reject(
            change_request_id=other.pk, user=committee[2], comment="Too risky."
        )
    rejected = Notification.objects.filter(
        kind=notices.REQUEST_ACTIVITY, title__contains="rejected"
    )
    assert rejected.count() == 1 and rejected.get().body == "Too risky."


def test_everyone_involved_hears_of_the_apply(fraud_model, proposer, committee, sent):
    engineer = UserFactory(username="eve", roles=["engineer"])
    cr, digest = submitted(fraud_model, proposer)
    services.change_request_comment(change_request_id=cr.pk, user=engineer, body="Nice.")
    approve(cr, committee[0], digest)
    with sent():
        approve(cr, committee[1], digest)  # quorum: applied
    assert cr.status == "applied"
    titles = told(notices.REQUEST_OUTCOME)
    # The proposer, the voter and the commenter; not cole, whose vote applied it.
    assert set(titles) == {"sam", "cora", "eve"}
    assert titles["sam"] == [f"Applied: change request #{cr.pk} (card-fraud) is now version 2"]


def test_everyone_involved_hears_when_their_request_goes_stale(
    fraud_model, proposer, committee, sent
):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[2], digest)
    other, other_digest = submitted(
        fraud_model, UserFactory(roles=["lead"]), proposal(min_confidence=0.6)
    )
    approve(other, committee[0], other_digest)
    with sent():
        approve(other, committee[1], other_digest)
    stale = Notification.objects.filter(kind=notices.REQUEST_OUTCOME, title__startswith="Stale")
    assert {n.recipient.username for n in stale} == {"sam", "cleo"}
    assert all(n.link == link(cr) for n in stale)


def test_everyone_involved_hears_of_expiry(fraud_model, proposer, committee, sent):
    cr, digest = submitted(fraud_model, proposer)
    services.change_request_comment(change_request_id=cr.pk, user=committee[0], body="Later.")
    ChangeRequest.objects.filter(pk=cr.pk).update(updated_at=timezone.now() - dt.timedelta(days=30))
    with sent():
        assert tasks.expire_requests() == 1
    expired = Notification.objects.filter(kind=notices.REQUEST_OUTCOME, title__startswith="Expired")
    assert {n.recipient.username for n in expired} == {"sam", "cora"}


def applied(model, proposer, committee, document):
    cr, digest = submitted(model, proposer, document)
    approve(cr, committee[0], digest)
    return approve(cr, committee[1], digest)


def test_emergency_rollback_tells_the_committee_and_the_people_of_the_rolled_back_change(
    fraud_model, proposer, committee, lead, sent
):
    engineer = UserFactory(username="eve", roles=["engineer"])
    cr, digest = submitted(fraud_model, proposer)
    services.change_request_comment(change_request_id=cr.pk, user=engineer, body="Careful.")
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)  # v2
    with sent():
        rollback = services.emergency_rollback(
            model_slug="card-fraud", to_version=1, reason="Queue exploded", user=lead
        )
    titles = told(notices.EMERGENCY_ROLLBACK)
    assert set(titles) == {"cora", "cole", "cleo", "sam", "eve"}  # not lee, who did it
    note = Notification.objects.filter(kind=notices.EMERGENCY_ROLLBACK).first()
    assert note.link == link(rollback) and "Queue exploded" in note.body
    assert note.title == "Emergency rollback of card-fraud to version 1 by lee"


def test_the_committee_is_reminded_daily_while_the_ratification_is_overdue(
    fraud_model, proposer, committee, lead, sent
):
    applied(fraud_model, proposer, committee, proposal())
    cr = services.emergency_rollback(model_slug="card-fraud", to_version=1, reason="x", user=lead)
    with sent():
        tasks.ratifications_overdue()
    assert told(notices.RATIFICATION_OVERDUE) == {}  # not due yet
    due = timezone.now() - dt.timedelta(minutes=1)
    ChangeRequest.objects.filter(pk=cr.pk).update(ratification_due=due)
    with sent():
        tasks.ratifications_overdue()
    with sent():
        tasks.ratifications_overdue()  # ten minutes later: no second reminder the same day
    assert {u: len(t) for u, t in told(notices.RATIFICATION_OVERDUE).items()} == {
        "cora": 1,
        "cole": 1,
        "cleo": 1,
    }
    # A day later: reminded again.
    ChangeRequest.objects.filter(pk=cr.pk).update(
        ratification_reminded_at=timezone.now() - dt.timedelta(hours=24, minutes=1)
    )
    with sent():
        assert services.emergency_ratification_reminders() == [cr.pk]
    assert len(told(notices.RATIFICATION_OVERDUE)["cora"]) == 2
    assert (
        AuditEvent.objects.filter(verb="governance.change_request.ratification_reminded").count()
        == 2
    )
    # Ratified: no more reminders.
    services.change_request_ratify(change_request_id=cr.pk, user=committee[2])
    ChangeRequest.objects.filter(pk=cr.pk).update(ratification_reminded_at=None)
    assert services.emergency_ratification_reminders() == []


def test_the_link_falls_back_to_the_request_path_until_the_page_exists():
    assert notices.request_link(12) == "/governance/requests/12/"


# --- deactivation ---------------------------------------------------------------------------
def test_deactivating_a_user_keeps_their_proposals_votes_and_comments(
    fraud_model, proposer, committee, sent
):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest, comment="Fine by me.")
    services.change_request_comment(change_request_id=cr.pk, user=committee[0], body="Really.")
    for user in (proposer, committee[0]):
        user.is_active = False
        user.save()
    cr.refresh_from_db()
    assert cr.proposer == proposer and cr.status == "in_review"
    assert list(selectors.change_requests(model_slug="card-fraud")) == [cr]
    vote = Approval.objects.get(change_request=cr)
    assert vote.user == committee[0] and vote.lapsed_at is None
    assert list(selectors.live_approvals(cr)) == [vote]  # the vote still counts
    got = selectors.change_request_get(cr.pk)
    assert [c.author.username for c in got.comments.all()] == ["cora"]
    # A deactivated person is no longer told anything (core leaves inactive users out).
    with sent():
        services.change_request_comment(change_request_id=cr.pk, user=committee[1], body="Ok.")
    assert told(notices.REQUEST_ACTIVITY) == {}
    # ... and nobody can delete them while those rows exist.
    with pytest.raises(ProtectedError):
        committee[0].delete()
    with pytest.raises(ProtectedError):
        proposer.delete()
    assert ChangeRequestComment.objects.filter(change_request=cr).count() == 2
