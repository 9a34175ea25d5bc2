"""The gold pages and API, per role: leads mark and retire; engineers and the committee read;
reviewers get 403 everywhere (they must never learn which items are gold)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from reviewapp.quality.models import GoldItem
from tests.factories import UserFactory
from tests.reviewapp.test_queue_fixtures import make_items, other_reviewer, pooled_reviewer

from .gold_helpers import decided_items, mark

pytestmark = pytest.mark.django_db
__all__ = ["other_reviewer", "pooled_reviewer"]


@pytest.fixture
def lee(db):
    return UserFactory(username="lee", roles=["lead"])


@pytest.fixture
def items(fraud_model, pooled_reviewer):
    """Two decided items of ana's: one overridden (the model was wrong), one accepted."""
    return decided_items(fraud_model, pooled_reviewer, 2, override=1)


def signed_in(client, user):
    client.force_login(user)
    return client


# --- the item page's action and the mark page ---------------------------------------------


def test_a_lead_marks_a_decided_item_from_its_page(client, lee, items):
    wrong, _right = items
    page = signed_in(client, lee).get(reverse("queue:item", args=[wrong.pk])).content.decode()
    mark_url = reverse("quality:gold-mark", args=[wrong.pk])
    assert mark_url in page and "Mark as gold" in page
    form = client.get(mark_url)
    assert form.status_code == 200
    assert 'option value="legit" selected' in form.content.decode()  # the decision's label
    response = client.post(mark_url, {"label": "legit", "rationale": ""})
    assert response.status_code == 302
    assert response["Location"] == reverse("queue:item", args=[wrong.pk])
    gold = GoldItem.objects.get()
    assert (gold.label, gold.adversarial, gold.marked_by) == ("legit", True, lee)
    page = client.get(reverse("queue:item", args=[wrong.pk])).content.decode()
    assert f"Gold item #{gold.pk}" in page and mark_url not in page


def test_the_mark_form_shows_the_services_errors_by_the_field(client, lee, items):
    _wrong, right = items
    url = reverse("quality:gold-mark", args=[right.pk])
    response = signed_in(client, lee).post(url, {"label": "legit", "rationale": ""})
    assert response.status_code == 400
    assert "say why it is the right one" in response.content.decode()
    assert not GoldItem.objects.exists()


def test_no_mark_action_on_open_items_or_for_other_roles(client, fraud_model, lee, items):
    (open_item,) = make_items(fraud_model, 1, prefix="open")
    page = signed_in(client, lee).get(reverse("queue:item", args=[open_item.pk]))
    assert "Mark as gold" not in page.content.decode()
    for role in ("engineer", "committee"):
        client.force_login(UserFactory(roles=[role]))
        page = client.get(reverse("queue:item", args=[items[0].pk])).content.decode()
        assert "Mark as gold" not in page
        assert client.get(reverse("quality:gold-mark", args=[items[0].pk])).status_code == 403


def test_a_reviewer_sees_nothing_of_gold(client, pooled_reviewer, lee, items):
    gold = mark(items[0], lee)
    signed_in(client, pooled_reviewer)
    page = client.get(reverse("queue:item", args=[items[0].pk])).content.decode()
    assert "gold" not in page.lower()
    assert client.get(reverse("quality:gold-list")).status_code == 403
    assert client.get(reverse("quality:gold-mark", args=[items[1].pk])).status_code == 403
    response = client.post(reverse("quality:gold-retire", args=[gold.pk]), {"reason": "x"})
    assert response.status_code == 403
    assert GoldItem.objects.get().retired_at is None


# --- the gold list ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["lead", "engineer", "committee"])
def test_leads_engineers_and_committee_read_the_gold_set(client, lee, items, role):
    wrong, right = items
    mark(wrong, lee)
    mark(right, lee)
    reader = lee if role == "lead" else UserFactory(roles=[role])
    response = signed_in(client, reader).get(reverse("quality:gold-list"))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('id="gold-') == 2 and "adversarial" in page
    assert ("Retire gold item" in page) is (role == "lead")
    only = client.get(reverse("quality:gold-list") + "?adversarial=yes").content.decode()
    assert only.count('id="gold-') == 1
    assert client.get(reverse("quality:gold-list") + "?retired=maybe").status_code == 400


def test_a_lead_retires_gold_with_a_reason(client, lee, items):
    gold = mark(items[0], lee)
    url = reverse("quality:gold-retire", args=[gold.pk])
    signed_in(client, lee)
    response = client.post(url, {"reason": "", "back": reverse("quality:gold-list")})
    assert response.status_code == 302
    assert GoldItem.objects.get().retired_at is None
    client.post(url, {"reason": "Guideline v3 changed the answer"})
    gold.refresh_from_db()
    assert gold.retire_reason == "Guideline v3 changed the answer"
    active = client.get(reverse("quality:gold-list")).content.decode()
    assert 'id="gold-' not in active
    retired = client.get(reverse("quality:gold-list") + "?retired=retired").content.decode()
    assert "Guideline v3 changed the answer" in retired
    assert (
        client.post(reverse("quality:gold-retire", args=[999999]), {"reason": "x"}).status_code
        == 404
    )


# --- the API ------------------------------------------------------------------------------


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_lead_marks_reads_and_retires(lee, items):
    wrong, right = items
    api = api_as(lee)
    created = api.post("/api/v1/quality/gold", {"item_id": wrong.pk}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["label"], body["model_label"], body["adversarial"]) == ("legit", "fraud", True)
    assert body["served"] == 0 and body["accuracy"] is None
    listed = api.get("/api/v1/quality/gold?adversarial=true").json()
    assert [g["id"] for g in listed["results"]] == [body["id"]]
    assert api.get(f"/api/v1/quality/gold/{body['id']}").json()["id"] == body["id"]
    again = api.post("/api/v1/quality/gold", {"item_id": wrong.pk}, format="json")
    assert again.status_code == 409 and "item_id" in again.json()["errors"]
    retired = api.post(
        f"/api/v1/quality/gold/{body['id']}/retire", {"reason": "old"}, format="json"
    )
    assert retired.status_code == 200 and retired.json()["retire_reason"] == "old"
    assert api.get("/api/v1/quality/gold").json()["results"] == []
    assert len(api.get("/api/v1/quality/gold?retired=all").json()["results"]) == 1


def test_api_refuses_bad_input_with_the_field(lee, items):
    api = api_as(lee)
    cases = [
        (api.post("/api/v1/quality/gold", {"item_id": "x"}, format="json"), 400, "item_id"),
        (api.post("/api/v1/quality/gold", {"item_id": 999999}, format="json"), 404, "item_id"),
        (api.post("/api/v1/quality/gold", {"item_id": items[1].pk, "label": "nope"}, format="json"), 400, "label"),
        (api.post("/api/v1/quality/gold", {"item_id": items[1].pk, "who": 1}, format="json"), 400, "who"),
        (api.get("/api/v1/quality/gold?adversarial=maybe"), 400, "adversarial"),
        (api.get("/api/v1/quality/gold?model=nope"), 400, "model"),
        (api.get("/api/v1/quality/gold?offset=-1"), 400, "offset"),
        (api.get("/api/v1/quality/gold/999999"), 404, "id"),
        (api.post("/api/v1/quality/gold/999999/retire", {"reason": "x"}, format="json"), 404, "gold"),
    ]  # fmt: skip
    for response, status, field in cases:
        assert response.status_code == status, response.content
        assert field in response.json()["errors"], response.content
    assert not GoldItem.objects.exists()


@pytest.mark.parametrize("role", ["engineer", "committee"])
def test_api_engineers_and_committee_read_only(lee, items, role):
    gold = mark(items[0], lee)
    api = api_as(UserFactory(roles=[role]))
    assert api.get("/api/v1/quality/gold").status_code == 200
    assert api.get(f"/api/v1/quality/gold/{gold.pk}").status_code == 200
    assert (
        api.post("/api/v1/quality/gold", {"item_id": items[1].pk}, format="json").status_code == 403
    )
    retire = api.post(f"/api/v1/quality/gold/{gold.pk}/retire", {"reason": "x"}, format="json")
    assert retire.status_code == 403


def test_api_reviewers_and_service_tokens_get_403_on_every_route(pooled_reviewer, lee, items, api):
    gold = mark(items[0], lee)
    for client in (api_as(pooled_reviewer), api):
        assert client.get("/api/v1/quality/gold").status_code == 403
        assert client.get(f"/api/v1/quality/gold/{gold.pk}").status_code == 403
        created = client.post("/api/v1/quality/gold", {"item_id": items[1].pk}, format="json")
        assert created.status_code == 403
        retire = client.post(
            f"/api/v1/quality/gold/{gold.pk}/retire", {"reason": "x"}, format="json"
        )
        assert retire.status_code == 403
    assert GoldItem.objects.count() == 1 and GoldItem.objects.get().retired_at is None


def test_the_gold_list_costs_the_same_queries_for_one_row_or_many(
    client, lee, fraud_model, pooled_reviewer
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first, *rest = decided_items(fraud_model, pooled_reviewer, 4, override=1, prefix="q")
    mark(first, lee)
    signed_in(client, lee)
    client.get(reverse("quality:gold-list"))  # warm the session
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("quality:gold-list")).status_code == 200
    for item in rest:
        mark(item, lee)
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("quality:gold-list")).content.decode()
    assert page.count('id="gold-') == 4
    assert len(many.captured_queries) == len(one.captured_queries)
