"""Who may do what: engineers read and draft, editors edit, a second editor publishes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog import services
from catalog.models import FailureMode, Revision
from reviewapp.core.audit import AuditEvent
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_engineer_drafts_and_edits_own_draft(engineer, make_fm):
    fm = make_fm(engineer, "Tokenizer mismatch")
    assert fm.status == FailureMode.Status.DRAFT
    assert fm.created_by == engineer
    services.failure_mode_update(failure_mode=fm, user=engineer, data={"effect": "Worse."})
    fm.refresh_from_db()
    assert fm.effect == "Worse." and fm.version == 2


def test_engineer_cannot_edit_someone_elses_entry_or_publish(engineer, editor, editor2, make_fm):
    fm = make_fm(editor, publish_by=editor2)
    with pytest.raises(PermissionDenied):
        services.failure_mode_update(failure_mode=fm, user=engineer, data={"effect": "x"})
    draft = make_fm(engineer, "Another")
    services.failure_mode_transition(failure_mode=draft, user=engineer, action="submit")
    with pytest.raises(PermissionDenied):
        services.failure_mode_transition(failure_mode=draft, user=engineer, action="publish")


def test_editor_edits_any_entry(engineer, editor, make_fm):
    fm = make_fm(engineer)
    services.failure_mode_update(failure_mode=fm, user=editor, data={"cause": "Better cause."})
    assert FailureMode.objects.get(pk=fm.pk).cause == "Better cause."


def test_author_cannot_publish_own_entry_but_second_editor_can(editor, editor2, make_fm):
    fm = make_fm(editor)
    services.failure_mode_transition(failure_mode=fm, user=editor, action="submit")
    with pytest.raises(PermissionDenied) as exc:
        services.failure_mode_transition(failure_mode=fm, user=editor, action="publish")
    assert "another catalog editor" in exc.value.message
    assert FailureMode.objects.get(pk=fm.pk).status == "in_review"
    fm = services.failure_mode_transition(failure_mode=fm, user=editor2, action="publish")
    assert fm.status == "published" and fm.published_by == editor2
    assert AuditEvent.objects.filter(
        verb="catalog.failure_mode.published", actor_id=str(editor2.pk)
    ).exists()


def test_publish_needs_required_fields(editor, editor2, make_fm):
    fm = make_fm(editor, business_impact="", steward="")
    services.failure_mode_transition(failure_mode=fm, user=editor, action="submit")
    with pytest.raises(ServiceError) as exc:
        services.failure_mode_transition(failure_mode=fm, user=editor2, action="publish")
    assert set(exc.value.errors) == {"business_impact", "steward"}
    assert FailureMode.objects.get(pk=fm.pk).status == "in_review"


def test_transition_not_in_table_is_a_conflict(editor, editor2, make_fm):
    fm = make_fm(editor)
    with pytest.raises(Conflict):
        services.failure_mode_transition(failure_mode=fm, user=editor2, action="publish")
    with pytest.raises(Conflict):
        services.failure_mode_transition(failure_mode=fm, user=editor2, action="deprecate")


def test_reviewer_reads_but_cannot_draft(client, reviewer, make_fm, editor):
    make_fm(editor, "Currency drift")
    client.force_login(reviewer)
    assert client.get(reverse("catalog:search")).status_code == 200
    assert client.get(reverse("catalog:failure-mode-create")).status_code == 403
    with pytest.raises(PermissionDenied):
        services.failure_mode_create(
            user=reviewer, data={"title": "x", "summary": "y", "category": "data-drift"}
        )


def test_user_without_role_cannot_read(client):
    nobody = UserFactory(username="nobody")
    client.force_login(nobody)
    assert client.get(reverse("catalog:search")).status_code == 403
    assert client.get("/api/v1/failure-modes").status_code == 403


def test_publish_view_asks_for_confirmation_then_publishes(client, editor, editor2, make_fm):
    fm = make_fm(editor)
    services.failure_mode_transition(failure_mode=fm, user=editor, action="submit")
    client.force_login(editor2)
    url = reverse("catalog:failure-mode-action", args=[fm.slug, "publish"])
    page = client.get(url)
    assert page.status_code == 200
    assert "reviewed reference" in page.content.decode()
    assert FailureMode.objects.get(pk=fm.pk).status == "in_review"  # GET changes nothing
    response = client.post(url, {"note": "Checked the trigger steps."})
    assert response.status_code == 302
    assert FailureMode.objects.get(pk=fm.pk).status == "published"


def test_author_sees_why_they_cannot_publish(client, editor, make_fm):
    fm = make_fm(editor)
    services.failure_mode_transition(failure_mode=fm, user=editor, action="submit")
    client.force_login(editor)
    url = reverse("catalog:failure-mode-action", args=[fm.slug, "publish"])
    response = client.post(url)
    assert response.status_code == 403
    assert "another catalog editor must publish" in response.content.decode()
    assert Revision.objects.filter(object_id=fm.pk, kind="failure_mode").count() == 2
