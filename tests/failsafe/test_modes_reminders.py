"""Owners and leads are told of every mode switch, and reminded of a containment past its
review-by time at most once per FAILSAFE_REMINDER_MINUTES until it is extended or lifted.
Time travels by the services' ``now`` argument (the project's way; no clock patching)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from reviewapp.core.models import AuditEvent, Notification
from reviewapp.failsafe import notices
from reviewapp.failsafe.models import Alert
from reviewapp.failsafe.services.modes import mode_change, mode_extend
from reviewapp.failsafe.services.reminders import containment_reminders_send
from reviewapp.failsafe.tasks import containment_reminders
from reviewapp.models import ModelMode
from tests.factories import UserFactory

from .modes_helpers import switch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _email_in_process(eager):
    """The email task runs in this process (no broker)."""


@pytest.fixture
def sent(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def people(fraud_model, lead):
    owner = UserFactory(username="otto", email="otto@example.com")
    other_lead = UserFactory(username="lena", email="lena@example.com", roles=["lead"])
    fraud_model.owners.add(owner)
    UserFactory(username="rita", roles=["reviewer"])
    return {"owner": owner, "lead": lead, "other_lead": other_lead}


def told(kind: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in Notification.objects.filter(kind=kind).select_related("recipient").order_by("id"):
        out.setdefault(n.recipient.username, []).append(n.title)
    return out


# --- every switch -----------------------------------------------------------------------------
def test_a_switch_tells_the_owners_and_the_other_leads(fraud_model, people, sent):
    with sent():
        switch(fraud_model, "contained", people["lead"], reason="Drift.")
    news = told(notices.MODE_CHANGED)
    assert set(news) == {"otto", "lena"}  # not the lead who switched, not the reviewer
    assert news["otto"] == ["card-fraud contained: every prediction goes to human review (by lee)"]
    note = Notification.objects.filter(recipient=people["owner"]).get()
    assert "Reason: Drift." in note.body and note.link == "/dashboards/models/card-fraud/"
    assert {m.to[0] for m in mail.outbox} == {"otto@example.com", "lena@example.com"}


def test_an_automatic_switch_tells_every_lead(fraud_model, people, sent):
    alert = Alert.objects.create(
        model=fraud_model, monitor="ood_rate", rule={}, severity="S1", since=timezone.now()
    )
    with sent():
        mode_change(model=fraud_model, mode="halted", reason="OOD.", monitor="ood_rate",
                    alert=alert)  # fmt: skip
    news = told(notices.MODE_CHANGED)
    assert set(news) == {"otto", "lee", "lena"}
    assert "automatically by monitor ood_rate" in news["lee"][0]


def test_a_rolled_back_switch_tells_nobody(fraud_model, people, sent):
    from django.db import transaction

    with sent(), pytest.raises(RuntimeError), transaction.atomic():
        switch(fraud_model, "contained", people["lead"])
        raise RuntimeError("boom")
    assert not Notification.objects.exists() and not mail.outbox


def test_the_kinds_are_registered_for_preferences():
    from reviewapp.core import notifications

    keys = {k.key for k in notifications.kinds()}
    assert {"failsafe.mode_changed", "failsafe.review_due"} <= keys


# --- reminders --------------------------------------------------------------------------------
def test_no_reminder_before_the_review_time(fraud_model, people, sent):
    switch(fraud_model, "contained", people["lead"])
    with sent():
        assert containment_reminders_send(now=timezone.now() + dt.timedelta(hours=3)) == 0
    assert not told(notices.REVIEW_DUE)


def test_past_the_review_time_owner_and_leads_are_reminded_once_an_hour(fraud_model, people, sent):
    switch(fraud_model, "contained", people["lead"])
    due = ModelMode.objects.get().review_by
    with sent():
        assert containment_reminders_send(now=due + dt.timedelta(minutes=1)) == 1
    assert set(told(notices.REVIEW_DUE)) == {"otto", "lee", "lena"}
    # The containment's owner is the lead who switched: reminded too.
    assert ModelMode.objects.get().owner == people["lead"]
    with sent():
        assert containment_reminders_send(now=due + dt.timedelta(minutes=30)) == 0
        assert containment_reminders_send(now=due + dt.timedelta(minutes=61)) == 1
    assert len(told(notices.REVIEW_DUE)["otto"]) == 2
    assert AuditEvent.objects.filter(verb="failsafe.model_mode.reminded").count() == 2


@override_settings(FAILSAFE_REMINDER_MINUTES=15)
def test_the_interval_is_a_setting(fraud_model, people, sent):
    switch(fraud_model, "halted", people["lead"])
    due = ModelMode.objects.get().review_by
    with sent():
        assert containment_reminders_send(now=due) == 1
        assert containment_reminders_send(now=due + dt.timedelta(minutes=16)) == 1


def test_extending_stops_the_reminders_until_the_new_time(fraud_model, people, sent):
    switch(fraud_model, "contained", people["lead"])
    due = ModelMode.objects.get().review_by
    with sent():
        containment_reminders_send(now=due + dt.timedelta(minutes=1))
    later = timezone.now() + dt.timedelta(hours=8)
    mode_extend(model=fraud_model, user=people["other_lead"], review_by=later, note="Waiting.")
    assert ModelMode.objects.get().reminded_at is None
    with sent():
        assert containment_reminders_send(now=due + dt.timedelta(hours=2)) == 0
        assert containment_reminders_send(now=later + dt.timedelta(minutes=1)) == 1


def test_a_lifted_model_is_not_reminded(fraud_model, people, sent):
    switch(fraud_model, "contained", people["lead"])
    due = ModelMode.objects.get().review_by
    switch(fraud_model, "normal", people["lead"], reason="Fixed.")
    with sent():
        assert containment_reminders_send(now=due + dt.timedelta(days=1)) == 0
    assert not told(notices.REVIEW_DUE)


def test_the_beat_task_is_scheduled_every_five_minutes(fraud_model, people, sent):
    entry = settings.CELERY_BEAT_SCHEDULE["failsafe-containment-reminders"]
    assert entry["task"] == "failsafe.containment_reminders"
    assert entry["schedule"] == dt.timedelta(minutes=5)
    assert containment_reminders.name == "failsafe.containment_reminders"
    switch(
        fraud_model, "contained", people["lead"], review_by=timezone.now() + dt.timedelta(seconds=1)
    )
    ModelMode.objects.update(review_by=timezone.now() - dt.timedelta(minutes=1))
    with sent():
        assert containment_reminders() == 1
