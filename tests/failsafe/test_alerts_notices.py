"""What the alert hooks do: notifications to the owners and leads, and the outbound alert
webhook (signed as decisions are, sent after commit, retried, its outcome on the alert)."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings
from standardwebhooks.webhooks import Webhook

from reviewapp.core import registry
from reviewapp.core.models import AuditEvent, Notification
from reviewapp.delivery.validators import generate_callback_secret
from reviewapp.failsafe import tasks
from reviewapp.failsafe.models import Alert
from reviewapp.failsafe.services import alert_notices
from reviewapp.failsafe.services.acknowledge import alert_acknowledge
from tests.delivery.conftest import Receiver
from tests.factories import UserFactory

from .alert_helpers import make_alert

pytestmark = pytest.mark.django_db
SECRET = generate_callback_secret()


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def people(fraud_model):
    owner = UserFactory(username="olga", email="olga@example.org", roles=["engineer"])
    fraud_model.owners.add(owner)
    lead = UserFactory(username="lee", email="lee@example.org", roles=["lead"])
    reviewer = UserFactory(username="ana", email="ana@example.org", roles=["reviewer"])
    bystander = UserFactory(username="eve", email="eve@example.org", roles=["engineer"])
    return owner, lead, reviewer, bystander


def run_hook(name, alert, capture):
    with capture(execute=True), transaction.atomic():
        registry.run_hooks(name, alert=alert)


def test_hooks_are_registered_by_the_app():
    assert alert_notices.alert_opened in registry._hooks["failsafe.alert_opened"]
    assert alert_notices.alert_resolved in registry._hooks["failsafe.alert_resolved"]


def test_an_opened_shift_tells_the_owners_and_leads_what_happened(
    fraud_model, people, eager, django_capture_on_commit_callbacks
):
    owner, lead, reviewer, bystander = people
    alert = make_alert(fraud_model)
    run_hook("failsafe.alert_opened", alert, django_capture_on_commit_callbacks)

    rows = Notification.objects.filter(kind="failsafe.alert_opened")
    assert sorted(rows.values_list("recipient__username", flat=True)) == ["lee", "olga"]
    note = rows.first()
    # Readable in seconds: severity, model, monitor, value against bound, shape, action.
    assert note.title == (
        "S1 alert · card-fraud · uncertain rate 0.42 > 0.15 · persistent shift · model contained"
    )
    assert "Persistent shift" in note.body and "model contained" in note.body
    assert "for 30 min is a persistent shift" in note.body
    assert note.link == f"/failsafe/alerts/{alert.pk}/"
    assert sorted(m.to[0] for m in mail.outbox) == ["lee@example.org", "olga@example.org"]
    assert f"/failsafe/alerts/{alert.pk}/" in mail.outbox[0].body


def test_a_spike_says_it_only_notified(fraud_model, people, django_capture_on_commit_callbacks):
    alert = make_alert(fraud_model, shape=Alert.Shape.SPIKE, action_taken="", severity="S3")
    run_hook("failsafe.alert_opened", alert, django_capture_on_commit_callbacks)
    note = Notification.objects.filter(kind="failsafe.alert_opened").first()
    assert note.title.startswith("S3 alert · card-fraud")
    assert "spike · notified only" in note.title
    assert "Spike:" in note.body


def test_a_resolved_alert_notifies_and_says_the_mode_stays(
    fraud_model, people, django_capture_on_commit_callbacks
):
    alert = make_alert(fraud_model, state=Alert.State.RESOLVED)
    run_hook("failsafe.alert_resolved", alert, django_capture_on_commit_callbacks)
    rows = Notification.objects.filter(kind="failsafe.alert_resolved")
    assert rows.count() == 2
    note = rows.first()
    assert "card-fraud" in note.title and "back inside its bound" in note.title
    assert "stays contained until a lead lifts it" in note.body


def test_no_webhook_url_sends_nothing(fraud_model, people, django_capture_on_commit_callbacks):
    alert = make_alert(fraud_model)
    assert alert_notices.alert_webhook_enqueue(alert=alert, event="alert.opened") is False


def verified(receiver_request) -> dict:
    headers = {k.lower(): v for k, v in receiver_request["headers"].items()}
    return Webhook(SECRET).verify(receiver_request["body"], headers)


def test_the_webhook_sends_opened_acknowledged_and_resolved_signed_after_commit(
    fraud_model, people, receiver, eager, django_capture_on_commit_callbacks
):
    owner, lead, *_ = people
    alert = make_alert(fraud_model)
    with override_settings(
        FAILSAFE_ALERT_WEBHOOK_URL=receiver.url, FAILSAFE_ALERT_WEBHOOK_SECRET=SECRET
    ):
        with django_capture_on_commit_callbacks(execute=False) as pending, transaction.atomic():
            registry.run_hooks("failsafe.alert_opened", alert=alert)
        assert receiver.requests == []  # nothing inside the transaction
        for callback in pending:
            callback()
        with django_capture_on_commit_callbacks(execute=True):
            alert_acknowledge(alert=alert, user=lead, note="on it")
        run_hook("failsafe.alert_resolved", alert, django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 3
    payloads = [verified(r) for r in receiver.requests]
    assert [p["type"] for p in payloads] == ["alert.opened", "alert.acknowledged", "alert.resolved"]
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert ids == [f"msg_alert_{alert.pk}_{e}" for e in ("opened", "acknowledged", "resolved")]
    data = payloads[0]["data"]
    assert data["id"] == alert.pk and data["model"] == "card-fraud"
    assert data["monitor"] == "uncertain_rate" and data["severity"] == "S1"
    assert data["shape"] == "shift" and data["state"] == "open"
    assert data["value"] == 0.42 and data["bound"] == 0.15
    assert data["action_taken"] == "contain" and data["since"].endswith("Z")
    assert data["link"] == f"/failsafe/alerts/{alert.pk}/"
    assert payloads[1]["data"]["state"] == "acknowledged"
    assert payloads[1]["data"]["acknowledged_by"] == "lee"
    delivered = AuditEvent.objects.filter(verb="failsafe.alert_webhook.delivered")
    assert delivered.count() == 3
    assert {e.target_id for e in delivered} == {str(alert.pk)}


def test_the_link_is_absolute_when_the_site_url_is_known(fraud_model):
    alert = make_alert(fraud_model)
    with override_settings(NOTIFICATIONS_SITE_URL="https://failsafe.example.org/"):
        payload = alert_notices.alert_webhook_payload(
            alert=alert, event="alert.opened", now=alert.opened_at
        )
    assert payload["data"]["link"] == f"https://failsafe.example.org/failsafe/alerts/{alert.pk}/"


def test_a_failing_receiver_is_retried_then_given_up_and_recorded(fraud_model, receiver):
    alert = make_alert(fraud_model)
    receiver.fail_first(5, code=503)
    with override_settings(
        FAILSAFE_ALERT_WEBHOOK_URL=receiver.url,
        FAILSAFE_ALERT_WEBHOOK_SECRET=SECRET,
        FAILSAFE_ALERT_WEBHOOK_MAX_ATTEMPTS=2,
    ):
        payload = alert_notices.alert_webhook_payload(
            alert=alert, event="alert.opened", now=alert.opened_at
        )
        first = alert_notices.alert_webhook_send(
            message_id="m1", payload=payload, attempt=1, last_attempt=False
        )
        assert first.retryable and not first.delivered
        assert not AuditEvent.objects.filter(verb__startswith="failsafe.alert_webhook").exists()
        # The task: the first attempt asks Celery to retry; the last one gives up.
        result = tasks.send_alert_webhook.apply(args=["m1", payload])
    assert result.result == "failed"
    [failed] = AuditEvent.objects.filter(verb="failsafe.alert_webhook.failed")
    assert failed.target_id == str(alert.pk) and failed.data["status_code"] == 503
    assert failed.data["attempts"] == 2
    # The same webhook-id on every attempt: a receiver drops the copies.
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {"m1"}


def test_a_refused_url_is_given_up_at_once(fraud_model, receiver):
    alert = make_alert(fraud_model)
    with override_settings(
        FAILSAFE_ALERT_WEBHOOK_URL=receiver.url,
        FAILSAFE_ALERT_WEBHOOK_SECRET=SECRET,
        WEBHOOK_ALLOW_PRIVATE_NETWORKS=False,
        WEBHOOK_ALLOW_LOOPBACK=False,
    ):
        payload = alert_notices.alert_webhook_payload(
            alert=alert, event="alert.opened", now=alert.opened_at
        )
        result = tasks.send_alert_webhook.apply(args=["m2", payload])
    assert result.result == "failed" and receiver.requests == []
    [failed] = AuditEvent.objects.filter(verb="failsafe.alert_webhook.failed")
    assert "Refused to call the URL" in failed.data["error"]


def test_a_bad_secret_is_given_up_at_once(fraud_model, receiver):
    alert = make_alert(fraud_model)
    with override_settings(
        FAILSAFE_ALERT_WEBHOOK_URL=receiver.url, FAILSAFE_ALERT_WEBHOOK_SECRET="not-a-secret"
    ):
        payload = alert_notices.alert_webhook_payload(
            alert=alert, event="alert.opened", now=alert.opened_at
        )
        result = tasks.send_alert_webhook.apply(args=["m3", payload])
    assert result.result == "failed" and receiver.requests == []
    [failed] = AuditEvent.objects.filter(verb="failsafe.alert_webhook.failed")
    assert "Cannot sign" in failed.data["error"]
    assert json.dumps(failed.data)  # plain JSON
