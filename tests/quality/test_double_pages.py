"""The adjudication pages and API, per role (reviewapp/quality/views/double.py, api/double.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from reviewapp.models import Decision
from reviewapp.quality.models import GoldItem, SecondReview
from tests.factories import UserFactory

from .test_double import disagreement, other_reviewer, pooled_reviewer, quality  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(quality, fraud_model, pooled_reviewer, other_reviewer):  # noqa: F811
    item, first, review = disagreement(fraud_model, pooled_reviewer, other_reviewer)
    return review


def signed_in(client, user):
    client.force_login(user)
    return client


def test_the_list_shows_a_lead_what_waits_oldest_first(client, lead, waiting):
    page = signed_in(client, lead).get("/quality/adjudication/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/quality/adjudication/{waiting.pk}/" in html
    assert "card-fraud" in html and "ana" in html and "ravi" in html


def test_the_empty_list_says_what_it_is_for(client, lead):
    page = signed_in(client, lead).get("/quality/adjudication/")
    assert page.status_code == 200 and "No disagreements waiting" in page.content.decode()


def test_the_page_shows_both_decisions_side_by_side(client, lead, waiting):
    page = signed_in(client, lead).get(f"/quality/adjudication/{waiting.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "First review" in html and "Second review (blind)" in html
    assert "looks wrong" in html  # the first reviewer's reason
    assert 'name="label" value="fraud"' in html and "checked" not in html  # nothing preselected
    assert f'name="version" value="{waiting.version}"' in html


@pytest.mark.parametrize("role", ["reviewer", "committee", "engineer"])
def test_only_leads_see_the_pages(client, waiting, role):
    user = UserFactory(username=f"someone-{role}", roles=[role])
    client = signed_in(client, user)
    assert client.get("/quality/adjudication/").status_code == 403
    assert client.get(f"/quality/adjudication/{waiting.pk}/").status_code == 403


def test_the_reviewers_themselves_are_refused(client, waiting, pooled_reviewer):  # noqa: F811
    response = signed_in(client, pooled_reviewer).post(
        f"/quality/adjudication/{waiting.pk}/",
        {"label": "legit", "reason": "mine", "version": waiting.version},
    )
    assert response.status_code == 403
    waiting.refresh_from_db()
    assert waiting.status == SecondReview.Status.ADJUDICATING


def test_an_unknown_one_is_404(client, lead):
    assert signed_in(client, lead).get("/quality/adjudication/999/").status_code == 404


def test_the_form_names_what_is_missing(client, lead, waiting):
    page = signed_in(client, lead).post(
        f"/quality/adjudication/{waiting.pk}/", {"label": "", "reason": "", "version": "2"}
    )
    assert page.status_code == 400
    html = page.content.decode()
    assert "Pick the final label." in html and "Say why this label is the right one." in html


def test_a_stale_form_is_a_409_on_the_page(client, lead, waiting):
    page = signed_in(client, lead).post(
        f"/quality/adjudication/{waiting.pk}/",
        {"label": "fraud", "reason": "x", "version": str(waiting.version - 1)},
    )
    assert page.status_code == 409 and "changed since you opened it" in page.content.decode()


def test_adjudicating_from_the_page(client, lead, waiting):
    response = signed_in(client, lead).post(
        f"/quality/adjudication/{waiting.pk}/",
        {"label": "fraud", "reason": "card testing", "version": waiting.version, "make_gold": "on"},
    )
    assert response.status_code == 302 and response["Location"] == "/quality/adjudication/"
    waiting.refresh_from_db()
    assert waiting.status == SecondReview.Status.ADJUDICATED and waiting.final_label == "fraud"
    assert GoldItem.objects.get().label == "fraud"
    assert Decision.objects.get(pk=waiting.final_decision_id).reviewer_id == lead.pk


# --- API ------------------------------------------------------------------------------------
def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_lists_and_reads_for_leads(lead, waiting):
    client = api_as(lead)
    listed = client.get("/api/v1/quality/adjudications")
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert row["id"] == waiting.pk and row["status"] == "adjudicating"
    assert (row["first"]["label"], row["second"]["label"]) == ("legit", "fraud")
    assert client.get("/api/v1/quality/adjudications?status=agreed").json()["results"] == []
    bad = client.get("/api/v1/quality/adjudications?status=nope")
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    one = client.get(f"/api/v1/quality/adjudications/{waiting.pk}")
    assert one.status_code == 200 and one.json()["version"] == waiting.version
    assert client.get("/api/v1/quality/adjudications/999").status_code == 404


def test_api_adjudicates(lead, waiting):
    client = api_as(lead)
    url = f"/api/v1/quality/adjudications/{waiting.pk}/adjudicate"
    bad = client.post(url, {"label": "cat", "reason": "x", "version": 2}, format="json")
    assert bad.status_code == 400 and "label" in bad.json()["errors"]
    unknown = client.post(
        url, {"label": "fraud", "reason": "x", "version": 2, "who": 1}, format="json"
    )
    assert unknown.status_code == 400
    stale = client.post(url, {"label": "fraud", "reason": "x", "version": 1}, format="json")
    assert stale.status_code == 409
    done = client.post(url, {"label": "legit", "reason": "ok", "version": 2}, format="json")
    assert done.status_code == 200
    assert done.json()["status"] == "adjudicated" and done.json()["final_label"] == "legit"
    again = client.post(url, {"label": "legit", "reason": "ok", "version": 3}, format="json")
    assert again.status_code == 409


def test_api_refuses_reviewers(waiting, other_reviewer):  # noqa: F811
    client = api_as(other_reviewer)
    assert client.get("/api/v1/quality/adjudications").status_code == 403
    assert client.get(f"/api/v1/quality/adjudications/{waiting.pk}").status_code == 403
    response = client.post(
        f"/api/v1/quality/adjudications/{waiting.pk}/adjudicate",
        {"label": "legit", "reason": "x", "version": 2},
        format="json",
    )
    assert response.status_code == 403


def test_the_nav_counter_shows_only_when_something_waits(client, lead, quality, fraud_model):  # noqa: F811
    html = signed_in(client, lead).get("/quality/adjudication/").content.decode()
    assert 'data-counter="adjudication"' not in html


def test_the_nav_counter_counts(client, lead, waiting):
    html = signed_in(client, lead).get("/quality/adjudication/").content.decode()
    assert 'data-counter="adjudication"' in html
    assert '<span class="nav-count">1</span>' in html
