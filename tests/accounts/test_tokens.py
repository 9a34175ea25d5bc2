"""Personal API tokens: shown once, hashed, expiring, revocable, acting exactly as their person."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.accounts import services
from reviewapp.accounts.models import PersonalToken
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.core.tokens import token_digest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_token_is_stored_only_as_its_digest_and_its_creation_is_audited():
    user = UserFactory()
    issued = services.personal_token_create(user=user, name="on-call script", days=30)
    assert issued.token.startswith(f"fsp_{issued.record.token_prefix}_")
    row = PersonalToken.objects.get()
    assert row.token_hash == token_digest(issued.token)
    assert issued.token not in str(PersonalToken.objects.values().get())
    assert row.expires_at - row.created_at == dt.timedelta(days=30)
    event = AuditEvent.objects.get(verb="accounts.api_token.created")
    assert event.actor_id == str(user.pk) and issued.token not in str(event.after)


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [("", 30, "name"), ("x" * 101, 30, "name"), ("ok", 0, "days"), ("ok", 91, "days")],
)
def test_a_name_and_an_expiry_within_the_limit_are_required(name, days, field):
    with pytest.raises(ServiceError) as exc:
        services.personal_token_create(user=UserFactory(), name=name, days=days)
    assert field in exc.value.errors
    assert not PersonalToken.objects.exists()


def test_the_token_acts_as_its_person_with_their_roles(fraud_model):
    reviewer = UserFactory(roles=["reviewer"])
    token = services.personal_token_create(user=reviewer, name="t", days=7).token
    client = bearer(token)
    assert client.get("/api/v1/queue/items").status_code == 200
    assert client.get("/api/v1/failure-modes").status_code == 200
    # what a reviewer may not do, their token may not do either
    assert client.get("/api/v1/decisions").status_code == 403
    assert client.get("/api/v1/catalog").status_code == 403
    # and a person is not a producer
    assert client.post("/api/v1/predictions", {}, format="json").status_code == 403
    assert PersonalToken.objects.get().last_used_at is not None


def test_a_lead_token_reads_what_a_lead_reads(fraud_model):
    lead = UserFactory(roles=["lead"])
    token = services.personal_token_create(user=lead, name="t", days=7).token
    assert bearer(token).get("/api/v1/decisions").status_code == 200


def test_revoked_expired_and_deactivated_tokens_stop_at_once():
    user = UserFactory(roles=["reviewer"])
    revoked = services.personal_token_create(user=user, name="a", days=7)
    expired = services.personal_token_create(user=user, name="b", days=7)
    kept = services.personal_token_create(user=user, name="c", days=7)
    assert bearer(revoked.token).get("/api/v1/queue/items").status_code == 200
    services.personal_token_revoke(user=user, token_id=revoked.record.pk)
    now = timezone.now()
    PersonalToken.objects.filter(pk=expired.record.pk).update(
        created_at=now - dt.timedelta(days=8), expires_at=now - dt.timedelta(seconds=1)
    )
    for issued in (revoked, expired):
        response = bearer(issued.token).get("/api/v1/queue/items")
        assert response.status_code == 401
    assert AuditEvent.objects.filter(verb="accounts.api_token.revoked").count() == 1
    user.is_active = False
    user.save()
    assert bearer(kept.token).get("/api/v1/queue/items").status_code == 401


def test_personal_and_service_tokens_cannot_be_taken_for_each_other(service_token):
    user = UserFactory(roles=["lead"])
    personal = services.personal_token_create(user=user, name="t", days=7).token
    as_service = APIClient()
    as_service.credentials(HTTP_AUTHORIZATION=f"Token {personal}")
    assert as_service.get("/api/v1/models").status_code == 401
    assert bearer(service_token).get("/api/v1/models").status_code == 401
    for junk in ("fsp_zz_x", "fsp_\x00", "nothing", "fsp_0123456789ab_wrong"):
        assert bearer(junk).get("/api/v1/models").status_code == 401


def test_only_the_owner_revokes_a_token():
    owner, other = UserFactory(), UserFactory()
    issued = services.personal_token_create(user=owner, name="t", days=7)
    with pytest.raises(NotFound):
        services.personal_token_revoke(user=other, token_id=issued.record.pk)
    assert PersonalToken.objects.get().revoked_at is None


def test_last_use_is_stamped_at_most_once_a_minute():
    user = UserFactory(roles=["reviewer"])
    issued = services.personal_token_create(user=user, name="t", days=7)
    client = bearer(issued.token)
    client.get("/api/v1/models")
    first = PersonalToken.objects.get().last_used_at
    client.get("/api/v1/models")
    assert PersonalToken.objects.get().last_used_at == first


# --- the pages --------------------------------------------------------------------------------
def test_a_token_made_on_the_account_page_is_shown_once(client):
    user = UserFactory(roles=["reviewer"])
    client.force_login(user)
    response = client.post("/account/tokens/", {"name": "laptop script", "days": "30"})
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    body = response.content.decode()
    token = body.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("fsp_") and "shown only once" in body
    page = client.get("/account/").content.decode()
    assert "laptop script" in page and token not in page
    assert bearer(token).get("/api/v1/queue/items").status_code == 200


def test_bad_token_input_is_a_400_naming_the_field(client):
    client.force_login(UserFactory())
    response = client.post("/account/tokens/", {"name": "", "days": "365"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Give the token a name." in body and "Select a valid choice" in body
    assert not PersonalToken.objects.exists()


def test_revoking_someone_elses_token_is_404(client):
    issued = services.personal_token_create(user=UserFactory(), name="t", days=7)
    client.force_login(UserFactory())
    assert client.post(f"/account/tokens/{issued.record.pk}/revoke/").status_code == 404
