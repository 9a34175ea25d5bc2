"""A model's owners: set by leads (service, page form), shown on the model page to every
reader, and in ``GET /api/v1/models/{slug}``."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviewapp.core.exceptions import PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.failsafe.services.owners import model_owners_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OWNERS_URL = reverse("failsafe:owners", args=["card-fraud"])
MODEL_URL = reverse("failsafe:model", args=["card-fraud"])


@pytest.fixture
def people(db):
    return {
        "ana": UserFactory(username="ana", roles=["reviewer"]),
        "sam": UserFactory(username="sam", roles=["engineer"]),
        "edith": UserFactory(username="edith", roles=["catalog_editor"]),
        "both": UserFactory(username="both", roles=["catalog_editor", "engineer"]),
        "gone": UserFactory(username="gone", roles=["engineer"], is_active=False),
    }


def names(model):
    return sorted(model.owners.values_list("username", flat=True))


# --- the service ------------------------------------------------------------------------------
def test_lead_sets_owners_audited_with_usernames_before_and_after(fraud_model, lead, people):
    assert model_owners_set(model=fraud_model, owners=["sam", "ana"], user=lead) == ["ana", "sam"]
    assert names(fraud_model) == ["ana", "sam"]
    model_owners_set(model=fraud_model, owners=[" ana ", "ana", "both"], user=lead)
    event = AuditEvent.objects.filter(verb="failsafe.model_owners.changed").latest("id")
    assert event.before == {"owners": ["ana", "sam"]}
    assert event.after == {"owners": ["ana", "both"]}
    assert event.actor_id == str(lead.pk)


def test_unchanged_set_writes_no_event(fraud_model, lead, people):
    model_owners_set(model=fraud_model, owners=["ana"], user=lead)
    model_owners_set(model=fraud_model, owners=["ana"], user=lead)
    assert AuditEvent.objects.filter(verb="failsafe.model_owners.changed").count() == 1


def test_empty_list_removes_every_owner(fraud_model, lead, people):
    model_owners_set(model=fraud_model, owners=["ana"], user=lead)
    assert model_owners_set(model=fraud_model, owners=[], user=lead) == []
    assert names(fraud_model) == []


@pytest.mark.parametrize("role", ["engineer", "committee", "reviewer", "catalog_editor"])
def test_only_leads(fraud_model, role, people):
    with pytest.raises(PermissionDenied):
        model_owners_set(
            model=fraud_model, owners=["ana"], user=UserFactory(username=f"x-{role}", roles=[role])
        )
    assert names(fraud_model) == []


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (["ana", "nobody"], "nobody"),
        (["gone"], "gone"),
        (["edith"], "edith"),
        ([3], "usernames"),
    ],
)
def test_refused_owners_name_the_field_and_write_nothing(fraud_model, lead, people, given, says):
    model_owners_set(model=fraud_model, owners=["sam"], user=lead)
    with pytest.raises(ServiceError) as exc:
        model_owners_set(model=fraud_model, owners=given, user=lead)
    assert exc.value.status == 400
    assert says in exc.value.errors["owners"][0].lower()
    assert names(fraud_model) == ["sam"]


# --- the page --------------------------------------------------------------------------------
def test_lead_sets_owners_from_the_model_page(client, fraud_model, lead, people):
    client.force_login(lead)
    body = client.get(MODEL_URL).content.decode()
    assert OWNERS_URL in body and "Save owners" in body
    response = client.post(OWNERS_URL, {"owners": "sam, ana"})
    assert response.status_code == 302 and response["Location"] == MODEL_URL
    assert names(fraud_model) == ["ana", "sam"]
    assert "ana, sam" in client.get(MODEL_URL).content.decode()


def test_page_error_names_the_field_and_keeps_what_was_typed(client, fraud_model, lead, people):
    client.force_login(lead)
    response = client.post(OWNERS_URL, {"owners": "ana, nobody"})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_owners-error"' in body and "nobody" in body
    assert 'value="ana, nobody"' in body
    assert names(fraud_model) == []


@pytest.mark.parametrize("role", ["engineer", "committee", "reviewer"])
def test_other_roles_see_owners_but_no_form_and_may_not_post(
    client, fraud_model, lead, people, role
):
    from reviewapp.models import PoolMembership

    model_owners_set(model=fraud_model, owners=["ana", "sam"], user=lead)
    user = UserFactory(username=f"r-{role}", roles=[role])
    PoolMembership.objects.create(model=fraud_model, user=user)
    client.force_login(user)
    body = client.get(MODEL_URL).content.decode()
    assert "ana, sam" in body and OWNERS_URL not in body
    assert client.post(OWNERS_URL, {"owners": "ana"}).status_code == 403
    assert names(fraud_model) == ["ana", "sam"]


def test_model_without_owners_says_none_named(client, fraud_model, lead):
    client.force_login(lead)
    assert "none named" in client.get(MODEL_URL).content.decode()


# --- the API ---------------------------------------------------------------------------------
def test_api_model_carries_owner_usernames(api, fraud_model, lead, people):
    assert api.get("/api/v1/models/card-fraud").json()["owners"] == []
    model_owners_set(model=fraud_model, owners=["sam", "ana"], user=lead)
    assert api.get("/api/v1/models/card-fraud").json()["owners"] == ["ana", "sam"]
