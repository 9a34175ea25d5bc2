"""alert_acknowledge: who may, what it records, and the 409s that name the state."""

from __future__ import annotations

import pytest
from django.utils import timezone

from reviewapp.core import state
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.failsafe.models import Alert
from reviewapp.failsafe.services.acknowledge import alert_acknowledge
from reviewapp.failsafe.services.alert_state import ALERT
from tests.factories import UserFactory

from .alert_helpers import make_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(fraud_model):
    return make_alert(fraud_model)


def test_a_lead_acknowledges_an_open_alert_with_a_note(alert, lead):
    done = alert_acknowledge(alert=alert, user=lead, note="  Looking at the upstream feed. ")
    alert.refresh_from_db()
    assert alert.state == Alert.State.ACKNOWLEDGED == done.state
    assert alert.acknowledged_by == lead
    assert alert.acknowledge_note == "Looking at the upstream feed."
    assert abs((timezone.now() - alert.acknowledged_at).total_seconds()) < 5
    [event] = AuditEvent.objects.filter(verb="failsafe.alert.acknowledged")
    assert event.target_type == "failsafe.alert" and event.target_id == str(alert.pk)
    assert event.actor_label == "lee"
    assert event.before["state"] == "open" and event.after["state"] == "acknowledged"
    assert event.data["note"] == "Looking at the upstream feed."


def test_an_engineer_may_acknowledge(alert, engineer):
    alert_acknowledge(alert=alert, user=engineer)
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.acknowledge_note == ""


@pytest.mark.parametrize("role", ["reviewer", "committee", "catalog_editor"])
def test_other_roles_are_refused_and_nothing_is_written(alert, role):
    user = UserFactory(username=f"u-{role}", roles=[role])
    with pytest.raises(PermissionDenied):
        alert_acknowledge(alert=alert, user=user)
    alert.refresh_from_db()
    assert alert.state == "open" and alert.acknowledged_by is None
    assert not AuditEvent.objects.filter(verb="failsafe.alert.acknowledged").exists()


def test_acknowledging_twice_is_a_conflict_naming_the_state_and_who(alert, lead, engineer):
    alert_acknowledge(alert=alert, user=lead)
    with pytest.raises(Conflict) as err:
        alert_acknowledge(alert=alert, user=engineer)
    assert err.value.status == 409
    assert "already acknowledged" in err.value.message and "lee" in err.value.message
    assert err.value.errors.keys() == {"state"}
    alert.refresh_from_db()
    assert alert.acknowledged_by == lead


def test_a_stale_copy_still_gets_the_state_as_it_is_now(alert, lead, engineer):
    seen = Alert.objects.get(pk=alert.pk)  # the page read it open
    alert_acknowledge(alert=alert, user=lead)
    with pytest.raises(Conflict) as err:
        alert_acknowledge(alert=seen, user=engineer)
    assert "already acknowledged" in err.value.message


def test_a_resolved_alert_cannot_be_acknowledged(fraud_model, lead):
    resolved = make_alert(fraud_model, state=Alert.State.RESOLVED, resolved_at=timezone.now())
    with pytest.raises(Conflict) as err:
        alert_acknowledge(alert=resolved, user=lead)
    assert "already resolved" in err.value.message


def test_a_note_past_the_limit_is_a_400_on_note(alert, lead):
    with pytest.raises(ServiceError) as err:
        alert_acknowledge(alert=alert, user=lead, note="x" * 2001)
    assert err.value.status == 400 and "note" in err.value.errors
    alert.refresh_from_db()
    assert alert.state == "open"


def test_the_machine_resolves_from_open_and_from_acknowledged_only(fraud_model, lead):
    """The table the evaluator's alert_resolve uses: resolve from open or acknowledged."""
    a = make_alert(fraud_model)
    b = make_alert(fraud_model, monitor="override_rate")
    alert_acknowledge(alert=b, user=lead)
    for alert in (a, b):
        state.apply(
            ALERT,
            instance=alert,
            event="resolve",
            actor=Actor.system("monitor:test"),
            changes={"resolved_at": timezone.now()},
        )
        alert.refresh_from_db()
        assert alert.state == "resolved"
    with pytest.raises(Conflict):
        state.apply(ALERT, instance=a, event="acknowledge", actor=Actor.user(lead))
    assert ALERT.events_from("resolved") == []
    assert AuditEvent.objects.filter(verb="failsafe.alert.resolved").count() == 2
