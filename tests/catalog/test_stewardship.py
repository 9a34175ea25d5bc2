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


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("review_interval_days", 3, "Between 7 and 730 days."),
        ("review_interval_days", True, "Between 7 and 730 days."),
        ("next_review_on", "next spring", None),
    ],
)
def test_entries_and_mitigations_check_their_review_schedule_alike(
    editor, make_fm, field, value, message
):
    from reviewapp.core.exceptions import ServiceError

    fm = make_fm(editor, "Scheduled entry")
    mitigation = services.mitigation_create(
        user=editor, data={"title": "Scheduled check", "kind": "detector", "summary": "S."}
    )
    before = (fm.review_interval_days, fm.next_review_on, fm.version)
    for update in (
        lambda: services.failure_mode_update(failure_mode=fm, user=editor, data={field: value}),
        lambda: services.mitigation_update(mitigation=mitigation, user=editor, data={field: value}),
    ):
        with pytest.raises(ServiceError) as caught:
            update()
        assert field in caught.value.errors
        if message:
            assert caught.value.errors[field] == [message]
    fm.refresh_from_db()
    assert (fm.review_interval_days, fm.next_review_on, fm.version) == before
    # A valid schedule is taken by both.
    services.failure_mode_update(failure_mode=fm, user=editor, data={"review_interval_days": 30})
    services.mitigation_update(
        mitigation=mitigation, user=editor, data={"review_interval_days": 30}
    )
    fm.refresh_from_db()
    mitigation.refresh_from_db()
    assert fm.review_interval_days == mitigation.review_interval_days == 30
