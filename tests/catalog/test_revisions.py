"""Edits to a published failure mode are a pending revision that another editor publishes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog import services
from catalog.models import FailureMode, PendingRevision
from reviewapp.core.exceptions import Conflict, PermissionDenied
from reviewapp.core.models import AuditEvent
from tests.factories import UserFactory

from .conftest import FULL

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(editor, editor2, make_fm):
    return make_fm(editor, "Currency drift", publish_by=editor2)


def _edit(fm, user, **changes):
    return services.failure_mode_update(
        failure_mode=fm, user=user, data={**services.failure_mode_snapshot(fm), **changes}
    )


def test_an_authors_edit_stays_unpublished_until_another_editor_publishes_it(
    published, editor, editor2
):
    version = published.version
    result = _edit(published, editor, summary="New summary.", cause="New cause.")
    assert result.proposed_revision is not None
    fm = FailureMode.objects.get(pk=published.pk)
    assert (fm.status, fm.summary, fm.cause, fm.version) == (
        "published",
        FULL["summary"],
        FULL["cause"],
        version,
    )
    pending = PendingRevision.objects.get()
    assert pending.changes == {"summary": "New summary.", "cause": "New cause."}
    assert pending.base == {"summary": FULL["summary"], "cause": FULL["cause"]}
    with pytest.raises(PermissionDenied, match="another catalog editor"):
        services.failure_mode_revision_publish(revision_id=pending.pk, user=editor)
    fm = services.failure_mode_revision_publish(revision_id=pending.pk, user=editor2)
    fm.refresh_from_db()
    assert (fm.summary, fm.cause, fm.status, fm.version) == (
        "New summary.",
        "New cause.",
        "published",
        version + 1,
    )
    assert fm.published_by == editor2
    pending.refresh_from_db()
    assert pending.status == "published" and pending.decided_by == editor2
    verbs = list(AuditEvent.objects.order_by("id").values_list("verb", flat=True))
    assert "catalog.revision.proposed" in verbs and "catalog.revision.published" in verbs


def test_text_posted_back_with_crlf_is_not_a_change(published, editor):
    FailureMode.objects.filter(pk=published.pk).update(cause="Line one.\nLine two.")
    published.refresh_from_db()
    _edit(published, editor, cause="Line one.\r\nLine two.\r\n", summary="Changed.")
    assert PendingRevision.objects.get().changes == {"summary": "Changed."}


def test_the_author_amends_and_reverts_their_revision(published, editor):
    _edit(published, editor, summary="One.")
    _edit(published, editor, summary="One.", effect="Two.")
    assert PendingRevision.objects.get().changes == {"summary": "One.", "effect": "Two."}
    _edit(published, editor)  # everything back as published
    assert PendingRevision.objects.get().status == "withdrawn"


def test_someone_elses_pending_revision_blocks_a_second_one(published, editor, editor2):
    _edit(published, editor, summary="Mine.")
    with pytest.raises(Conflict, match="waiting for review"):
        _edit(published, editor2, summary="Theirs.")


def test_stewardship_fields_apply_at_once(published, editor, editor2):
    fm = _edit(published, editor, steward="emil", review_interval_days=30)
    assert fm.proposed_revision is None
    fm.refresh_from_db()
    assert fm.steward == editor2 and fm.review_interval_days == 30
    assert not PendingRevision.objects.exists()


def test_publishing_over_a_newer_published_version_is_refused(published, editor, editor2, make_fm):
    third = UserFactory(username="tess", roles=["catalog_editor"])
    _edit(published, editor, summary="Proposed.")
    pending = PendingRevision.objects.get()
    # Meanwhile the entry was reopened, edited and published again.
    services.failure_mode_transition(failure_mode=published, user=editor2, action="reopen")
    services.failure_mode_update(
        failure_mode=FailureMode.objects.get(pk=published.pk),
        user=editor2,
        data={"summary": "Other."},
    )
    services.failure_mode_transition(
        failure_mode=FailureMode.objects.get(pk=published.pk), user=third, action="publish"
    )
    with pytest.raises(Conflict, match="changed since"):
        services.failure_mode_revision_publish(revision_id=pending.pk, user=third)


def test_reject_and_withdraw(published, editor, editor2):
    _edit(published, editor, summary="Nope.")
    pending = PendingRevision.objects.get()
    reviewer = UserFactory(username="rev", roles=["engineer"])
    with pytest.raises(PermissionDenied):
        services.failure_mode_revision_reject(revision_id=pending.pk, user=reviewer)
    assert (
        services.failure_mode_revision_reject(revision_id=pending.pk, user=editor2).status
        == "rejected"
    )
    _edit(published, editor, summary="Again.")
    again = PendingRevision.objects.get(status="pending")
    assert (
        services.failure_mode_revision_reject(revision_id=again.pk, user=editor).status
        == "withdrawn"
    )
    assert FailureMode.objects.get(pk=published.pk).summary == FULL["summary"]


def test_pages_show_the_published_version_and_the_pending_revision(
    client, published, editor, editor2
):
    url = reverse("catalog:failure-mode-edit", args=[published.slug])
    client.force_login(editor)
    page = client.get(url)
    form = page.context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(summary="Edited on the page.", base_version=published.version)
    response = client.post(url, data, follow=True)
    body = response.content.decode()
    assert "waiting for another catalog editor" in body
    assert "A revision is waiting for review." in body
    assert FailureMode.objects.get(pk=published.pk).summary == FULL["summary"]
    pending = PendingRevision.objects.get()
    assert "Publish revision" not in body and "Withdraw my revision" in body
    # The author's edit page starts from their revision.
    assert client.get(url).context["form"].initial["summary"] == "Edited on the page."
    client.force_login(editor2)
    detail = client.get(reverse("catalog:failure-mode", args=[published.slug])).content.decode()
    assert "Publish revision" in detail and "Edited on the page." in detail
    assert pending.changes.keys() == {"summary"}
    client.post(reverse("catalog:revision-publish", args=[published.slug, pending.pk]))
    assert FailureMode.objects.get(pk=published.pk).summary == "Edited on the page."
