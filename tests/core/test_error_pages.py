"""403, 404, 500 and the refused-form page: the site's layout, what happened in words, what
to do (the roles a page is for, whose pool and who to ask), and a way back. The API keeps
answering JSON."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from reviewapp.core.views import server_error
from reviewapp.models import PoolMembership
from tests.delivery.factories import make_item
from tests.factories import MLModelFactory, UserFactory, make_policy

pytestmark = pytest.mark.django_db

FRAME = 'class="topbar"'


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Every app's pages: (role of the caller, path, a role the page names as the one it is for).
REFUSED = [
    ("reviewer", "/queue/escalations/", "Lead"),
    ("committee", "/queue/", "Engineer"),
    ("reviewer", "/governance/", "Committee member"),
    ("reviewer", "/governance/requests/", "Committee member"),
    ("catalog_editor", "/failsafe/", "Engineer"),
    ("catalog_editor", "/failsafe/alerts/", "Engineer"),
    ("reviewer", "/catalog/new/", "Catalog editor"),
    ("catalog_editor", "/dashboards/", "Committee member"),
    ("reviewer", "/delivery/", "Lead"),
    ("reviewer", "/delivery/export/", "Engineer"),
    ("reviewer", "/audit/", "Lead"),
    ("reviewer", "/accounts/lockouts/", "Lead"),
    ("committee", "/ingest/rejected/", "Lead"),
]


@pytest.mark.parametrize(("role", "path", "needed"), REFUSED)
def test_a_refusal_in_any_app_is_the_framed_403_naming_the_roles(role, path, needed):
    UserFactory(username="lee", roles=["lead"])
    user = UserFactory(username="u", roles=[role])
    response = _client(user).get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 403
    body = response.content.decode()
    assert FRAME in body and "This page is not open to you" in body
    assert "This is for:" in body and needed in body
    assert "ask the lead (lee)" in body
    assert "Go back" in body


def test_the_403_links_back_to_the_page_the_user_came_from():
    user = UserFactory(username="ana", roles=["reviewer"])
    response = _client(user).get("/governance/", HTTP_REFERER="http://testserver/queue/?status=all")
    assert 'href="/queue/?status=all">Go back' in response.content.decode()
    # Another site's page is never a way back.
    response = _client(user).get("/governance/", HTTP_REFERER="https://evil.example/queue/")
    assert 'href="/">Go back' in response.content.decode()


def test_a_reviewer_outside_a_models_pool_is_told_whose_pool_and_who_to_ask(fraud_model):
    radiology = MLModelFactory(slug="chest-xray", labels=["fraud", "legit"])
    make_policy(radiology)
    owner = UserFactory(username="sam", roles=["engineer"])
    radiology.owners.add(owner)
    UserFactory(username="lee", roles=["lead"])
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    make_item(radiology, external_id="scan-1")

    response = _client(ana).get("/queue/", {"model": "chest-xray"})
    assert response.status_code == 403
    body = response.content.decode()
    assert FRAME in body
    assert "You are not in the chest-xray pool" in body
    assert "the model's owners: sam" in body
    assert "a lead (leads manage pools): lee" in body
    assert "scan-1" not in body
    # Her own pool's queue is open, and a model nobody named is not refused.
    assert _client(ana).get("/queue/", {"model": "card-fraud"}).status_code == 200
    assert _client(ana).get("/queue/").status_code == 200


def test_the_404_is_the_projects_own_page_with_debug_off(settings):
    settings.DEBUG = False
    user = UserFactory(username="ana", roles=["reviewer"])
    response = _client(user).get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert FRAME in body and "Nothing here" in body and "Go back" in body
    anonymous = Client().get("/no/such/page/")
    assert anonymous.status_code == 404 and "Nothing here" in anonymous.content.decode()


def test_the_api_keeps_answering_json():
    user = UserFactory(username="cora", roles=["committee"])
    client = _client(user)
    refused = client.get("/api/v1/queue/items", HTTP_ACCEPT="text/html")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/json"
    missing = client.get("/api/v1/no-such-endpoint", HTTP_ACCEPT="text/html")
    assert missing.status_code == 404 and missing.json() == {"errors": {"detail": ["Not found."]}}


def test_a_refused_form_csrf_is_a_framed_page_that_says_nothing_changed():
    user = UserFactory(username="ana", roles=["reviewer"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/notifications/read-all", {})
    assert response.status_code == 403
    body = response.content.decode()
    assert FRAME in body
    assert "This form could not be accepted" in body and "Nothing was changed" in body
    assert "reload the page" in body


def test_a_refused_api_call_csrf_is_json():
    user = UserFactory(username="lee", roles=["lead"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/queue/claim", {}, content_type="application/json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"


# --- 500 ------------------------------------------------------------------------------------
def test_the_500_page_is_framed_and_says_what_to_do():
    client = Client(raise_request_exception=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.conf.settings.ROOT_URLCONF", "tests.core.urls_boom")
        response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert FRAME in body and "Something went wrong on our side" in body
    assert "try again in a minute" in body and 'href="/"' in body
    assert "Traceback" not in body and "boom" not in body


class _BrokenUser:
    @property
    def is_authenticated(self):
        raise RuntimeError("the session store is down")


def test_the_500_page_renders_with_a_broken_request_and_no_database(django_assert_num_queries):
    request = RequestFactory().get("/queue/")
    request.user = _BrokenUser()
    request.request_id = "req-41"
    with django_assert_num_queries(0):
        response = server_error(request)
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body and "req-41" in body


def test_the_500_under_api_is_json():
    response = server_error(RequestFactory().get("/api/v1/predictions"))
    assert response.status_code == 500 and response["Content-Type"] == "application/json"


def test_a_refusal_with_its_own_reason_does_not_claim_a_role_would_help(rf):
    from django.core.exceptions import PermissionDenied

    from reviewapp.core.views import permission_denied

    UserFactory(username="lee", roles=["lead"])
    request = rf.get("/governance/requests/1/approve")
    request.user = UserFactory(username="cora", roles=["committee"])
    request.resolver_match = None
    response = permission_denied(request, PermissionDenied("You cannot approve your own request."))
    body = response.content.decode()
    assert response.status_code == 403
    assert "You cannot approve your own request." in body
    assert "This is for:" not in body and "for the role" not in body
    assert "if you think you should be able to do this, ask a lead (lee)" in body
