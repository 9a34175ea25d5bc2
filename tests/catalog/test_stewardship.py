from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from catalog import selectors, services
from catalog.models import FailureMode
from catalog.tasks import remind_stewards

pytestmark = pytest.mark.django_db


def test_default_review_is_quarterly(engineer, make_fm):
    fm = make_fm(engineer)
    assert fm.next_review_on == timezone.localdate() + dt.timedelta(days=91)


def test_overdue_list_reminder_and_mark_reviewed(client, engineer, editor, make_fm):
    due = make_fm(engineer, "Overdue one", steward="edith")
    FailureMode.objects.filter(pk=due.pk).update(
        next_review_on=timezone.localdate() - dt.timedelta(days=3)
    )
    make_fm(engineer, "Fresh one")
    overdue = selectors.stewardship_overdue()
    assert [f.slug for f in overdue["failure_modes"]] == [due.slug]
    assert [f.slug for f in selectors.stewardship_overdue(user=editor)["failure_modes"]] == [
        due.slug
    ]

    assert remind_stewards() == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["edith@example.test"]
    assert remind_stewards() == 0  # at most once a week
    assert len(mail.outbox) == 1

    client.force_login(editor)
    page = client.get(reverse("catalog:stewardship"))
    assert "Overdue one" in page.content.decode()
    client.post(reverse("catalog:failure-mode-reviewed", args=[due.slug]))
    due.refresh_from_db()
    assert due.next_review_on == timezone.localdate() + dt.timedelta(days=91)
    assert not selectors.stewardship_overdue()["failure_modes"].exists()


def test_only_owner_steward_or_editor_marks_reviewed(engineer, editor, make_fm):
    from reviewapp.core.exceptions import PermissionDenied
    from tests.factories import UserFactory

    fm = make_fm(editor)
    other = UserFactory(username="other-eng", roles=["engineer"])
    with pytest.raises(PermissionDenied):
        services.failure_mode_mark_reviewed(failure_mode=fm, user=other)
