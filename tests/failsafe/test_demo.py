"""seed_demo's fail-safe part: owners for every demo model, yesterday's containment of
card-fraud by a monitor (acknowledged, resolved, lifted two hours later), one open spike today,
no model left stopped, and nothing written twice."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from reviewapp.core.models import AuditEvent
from reviewapp.failsafe.models import Alert, ModeChange
from reviewapp.failsafe.services.owners import model_owners_set
from reviewapp.models import MLModel, Mode, ModelMode

pytestmark = pytest.mark.django_db


def seed(tmp_path, *args):
    with override_settings(VAR_DIR=tmp_path):
        call_command(
            "seed_demo",
            "--predictions",
            "20",
            "--days",
            "1",
            "--rate",
            "60",
            *args,
            stdout=io.StringIO(),
        )


def test_demo_tells_a_week_of_fail_safe(tmp_path):
    seed(tmp_path)
    owners = {
        m.slug: sorted(m.owners.values_list("username", flat=True)) for m in MLModel.objects.all()
    }
    assert owners == {
        "card-fraud": ["lee", "sam"],
        "support-triage": ["lee"],
        "radiology-triage": ["sam"],
    }

    # Yesterday: data-anomalies contained card-fraud; lee acknowledged; it resolved; lee lifted.
    resolved = Alert.objects.get(model__slug="card-fraud")
    assert (resolved.monitor, resolved.state, resolved.shape) == (
        "data-anomalies", "resolved", "shift",
    )  # fmt: skip
    assert resolved.action_taken == "contain"
    assert resolved.acknowledged_by.username == "lee" and resolved.acknowledge_note
    today = timezone.now()
    assert resolved.since.date() == (today - dt.timedelta(days=1)).date()
    contain, lift = ModeChange.objects.filter(model__slug="card-fraud").order_by("created_at")
    assert (contain.to_mode, contain.monitor, contain.actor, contain.alert_id) == (
        Mode.CONTAINED, "data-anomalies", None, resolved.pk,
    )  # fmt: skip
    assert contain.metrics["data-anomalies"]["state"] == "shift"
    assert (lift.to_mode, lift.actor.username) == (Mode.NORMAL, "lee") and lift.reason
    assert abs(lift.created_at - contain.created_at - dt.timedelta(hours=2)) < dt.timedelta(
        minutes=1
    )
    assert resolved.acknowledged_at < resolved.resolved_at < lift.created_at
    # The audit log tells the same times as the rows.
    opened = AuditEvent.objects.get(verb="failsafe.alert.opened", target_id=str(resolved.pk))
    assert opened.occurred_at.date() == resolved.since.date()

    # Today: an open S3 spike to acknowledge.
    spike = Alert.objects.get(model__slug="radiology-triage")
    assert (spike.state, spike.shape, spike.severity) == ("open", "spike", "S3")

    # Nobody's queue is stopped.
    assert not ModelMode.objects.exclude(mode=Mode.NORMAL).exists()


def test_a_second_run_writes_no_second_history_and_keeps_a_leads_owners(tmp_path):
    seed(tmp_path)
    lee = get_user_model().objects.get(username="lee")
    model_owners_set(model=MLModel.objects.get(slug="card-fraud"), owners=["ana"], user=lee)
    seed(tmp_path)
    assert Alert.objects.count() == 2
    assert ModeChange.objects.count() == 2
    assert list(
        MLModel.objects.get(slug="card-fraud").owners.values_list("username", flat=True)
    ) == ["ana"]
