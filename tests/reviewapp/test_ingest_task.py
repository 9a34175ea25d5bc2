"""The `failsafe.ingest_prediction` task body, called as a function (no worker)."""

from __future__ import annotations

import math

import pytest

from reviewapp.core.audit import Actor
from reviewapp.core.models import AuditEvent, Notification
from reviewapp.models import Prediction, RejectedEnvelope, ReviewItem
from reviewapp.services.accounts import service_account_create, service_token_revoke
from reviewapp.tasks import ingest_prediction
from tests.factories import MLModelFactory, envelope_for, signed_in_queries

pytestmark = pytest.mark.django_db


def env(ml_model, external_id: str = "txn-1", /, **patch) -> dict:
    return {**envelope_for(ml_model, external_id), **patch}


def test_the_task_is_registered_under_its_documented_name_and_queue():
    from django.conf import settings

    assert ingest_prediction.name == "failsafe.ingest_prediction"
    assert settings.CELERY_TASK_ROUTES["failsafe.ingest_prediction"] == {"queue": "ingest"}


def test_a_valid_envelope_is_stored_and_routed(fraud_model, service_token):
    pk = ingest_prediction(env(fraud_model, "celery-1", confidence=0.3), "producer")
    prediction = Prediction.objects.get(pk=pk)
    assert prediction.external_id == "celery-1"
    assert prediction.submitted_by.name == "producer"
    assert prediction.status == Prediction.Status.IN_REVIEW
    assert prediction.reason_codes == ["low_confidence"]
    assert ReviewItem.objects.filter(prediction=prediction).exists()
    assert not RejectedEnvelope.objects.exists()


def test_a_duplicate_does_nothing_and_returns_the_existing_id(fraud_model, service_token):
    first = ingest_prediction(env(fraud_model, "celery-1"), "producer")
    counts = Prediction.objects.count(), ReviewItem.objects.count(), AuditEvent.objects.count()
    assert ingest_prediction(env(fraud_model, "celery-1", confidence=0.9), "producer") == first
    assert (
        Prediction.objects.count(),
        ReviewItem.objects.count(),
        AuditEvent.objects.count(),
    ) == counts


def test_an_invalid_envelope_is_kept_as_a_rejected_record(fraud_model, service_token):
    result = ingest_prediction(
        env(fraud_model, "bad", confidence=2, output={"label": "maybe"}), "producer"
    )
    assert result is None
    assert not Prediction.objects.exists()
    rejected = RejectedEnvelope.objects.get()
    assert set(rejected.errors) == {"confidence", "output.label"}
    assert rejected.status_code == 400
    assert rejected.service_account_name == "producer"
    assert rejected.envelope["external_id"] == "bad"
    event = AuditEvent.objects.get(verb="queue.prediction.rejected")
    assert event.target_id == str(rejected.pk)


def test_nan_confidence_is_rejected_and_the_envelope_still_kept(fraud_model, service_token):
    # Celery's JSON decoder turns NaN into a float; the envelope must still be storable.
    ingest_prediction(env(fraud_model, "nan", confidence=math.nan), "producer")
    rejected = RejectedEnvelope.objects.get()
    assert list(rejected.errors) == ["confidence"]
    assert rejected.envelope["confidence"] == "NaN"


def test_text_no_database_can_store_is_rejected_and_kept(fraud_model, service_token):
    ingest_prediction(env(fraud_model, "nul", input={"note": "a\u0000b"}), "producer")
    rejected = RejectedEnvelope.objects.get()
    assert list(rejected.errors) == ["input.note"]
    assert rejected.envelope["input"]["note"] == "a\ufffdb"


@pytest.mark.parametrize("envelope", [None, [], "text", 42])
def test_a_non_object_envelope_is_rejected(fraud_model, service_token, envelope):
    ingest_prediction(envelope, "producer")
    rejected = RejectedEnvelope.objects.get()
    assert rejected.errors == {"body": ["Must be a JSON object."]}


def test_an_unknown_service_account_is_rejected(fraud_model):
    assert ingest_prediction(env(fraud_model), "nobody") is None
    rejected = RejectedEnvelope.objects.get()
    assert "nobody" in rejected.errors["service_account"][0]
    assert rejected.status_code == 403
    assert not Prediction.objects.exists()


@pytest.mark.parametrize("name", ["", "no\x00body", "x" * 300, None, 42, {"name": "producer"}])
def test_a_malformed_service_account_name_is_rejected_not_crashed(fraud_model, service_token, name):
    assert ingest_prediction(env(fraud_model), name) is None
    rejected = RejectedEnvelope.objects.get()
    assert rejected.status_code == 403
    assert "service_account" in rejected.errors
    assert not Prediction.objects.exists()


def test_a_revoked_service_account_is_rejected(fraud_model, service_token):
    service_token_revoke(name="producer", actor=Actor.system("tests"))
    ingest_prediction(env(fraud_model), "producer")
    assert RejectedEnvelope.objects.get().status_code == 403
    assert not Prediction.objects.exists()


def test_a_model_the_account_may_not_use_is_rejected_with_403(fraud_model):
    MLModelFactory(slug="support-triage", labels=["billing"])
    service_account_create(
        name="tickets-only", model_slugs=["support-triage"], actor=Actor.system("tests")
    )
    ingest_prediction(env(fraud_model), "tickets-only")
    rejected = RejectedEnvelope.objects.get()
    assert rejected.status_code == 403
    assert "card-fraud" in rejected.errors["model"][0]


def test_an_unknown_model_is_rejected_with_404(fraud_model, service_token):
    ingest_prediction(env(fraud_model, model="nope"), "producer")
    rejected = RejectedEnvelope.objects.get()
    assert rejected.status_code == 404
    assert "nope" in rejected.errors["model"][0]


# --- leads see rejected envelopes ---------------------------------------------------------
def test_leads_see_rejected_envelopes(client, lead, fraud_model, service_token):
    ingest_prediction(env(fraud_model, "shown", output={"label": "maybe"}), "producer")
    client.force_login(lead)
    response = client.get("/ingest/rejected/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "output.label" in page
    assert "producer" in page
    assert "maybe" in page


def test_reviewers_may_not_see_rejected_envelopes(client, reviewer):
    client.force_login(reviewer)
    assert client.get("/ingest/rejected/").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/ingest/rejected/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_rejected_list_query_count_is_fixed(
    client, lead, fraud_model, service_token, django_assert_num_queries
):
    for i in range(30):
        ingest_prediction(env(fraud_model, f"bad-{i}", confidence=5), "producer")
    Notification.objects.create(recipient=lead, kind="core.signin.locked_out", title="x")
    client.force_login(lead)
    client.get("/ingest/rejected/")  # warm per-process caches (content types)
    # 2x permissions, count, the page of rows. The top bar's unread notifications count adds
    # none: it is read in the user's own query (core.backends).
    with django_assert_num_queries(signed_in_queries(4)):
        response = client.get("/ingest/rejected/")
    assert response.status_code == 200
    assert '<span class="bell-count" aria-hidden="true">1</span>' in response.content.decode()
