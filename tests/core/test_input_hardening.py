"""The inputs a fuzzing run answered with 500, and the causes behind them: every one is now a
4xx naming the parameter, and none writes anything."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from catalog.models import MitigationTemplate
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.params import DB_INT_MAX, ParamError, int_or_none, parse_int
from reviewapp.core.parsers import load_json_body
from reviewapp.models import Decision, GuidelineVersion, Prediction, ReviewItem
from reviewapp.services.claims import review_item_assign
from tests.factories import UserFactory, envelope_for
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = pytest.mark.django_db
pooled_reviewer = fx.pooled_reviewer
HUGE = "1" + "0" * 20
S = ReviewItem.Status


def user_client(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def page_client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


# --- 1. one integer reader -------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["²", "١٢", "1.5", "", " ", "0x10", "1e3", HUGE, "-1", None, True])
def test_int_or_none_reads_only_ascii_whole_numbers_in_range(raw):
    assert int_or_none(raw, minimum=0) is None


def test_parse_int_names_the_parameter_and_bounds_it():
    assert parse_int(" 42 ", name="page") == 42
    assert parse_int(None, name="page", default=1) == 1
    assert parse_int(DB_INT_MAX, name="page") == DB_INT_MAX
    with pytest.raises(ParamError) as exc:
        parse_int(HUGE, name="page", minimum=1, maximum=10)
    assert exc.value.status == 400 and list(exc.value.errors) == ["page"]


@pytest.mark.parametrize("page", ["²", HUGE, "0", "-3", "10001"])
def test_queue_page_parameter_is_a_400_naming_it(page, lead, fraud_model):
    api = user_client(lead).get("/api/v1/queue/items", {"page": page})
    assert api.status_code == 400 and list(api.json()["errors"]) == ["page"]
    html = page_client(lead).get("/queue/", {"page": page})
    assert html.status_code == 400 and 'id="filter-errors"' in html.content.decode()


@pytest.mark.parametrize("value", ["²", HUGE])
def test_digit_like_query_values_on_pages_are_ignored_not_500(value, lead, fraud_model):
    c = page_client(lead)
    assert c.get("/queue/", {"done": value}).status_code == 200
    assert c.get(f"/queue/guidelines/{fraud_model.slug}/", {"v": value}).status_code == 200
    assert c.post("/queue/next/", {"done": value}).status_code == 302


def test_ids_in_paths_past_an_integer_column_are_404(lead, fraud_model):
    assert user_client(lead).get(f"/api/v1/queue/items/{HUGE}").status_code == 404
    assert page_client(lead).get(f"/queue/items/{HUGE}/").status_code == 404


@pytest.mark.parametrize("generation", ["²", HUGE, -1, 2**40, "abc", 1.5])
def test_generations_over_the_api_are_validated(generation, pooled_reviewer, fraud_model):
    fx.make_items(fraud_model, 1)
    c = user_client(pooled_reviewer)
    held = c.post("/api/v1/queue/claim").json()
    for verb in ("decide", "release", "renew"):
        body = {"generation": generation}
        if verb == "decide":
            body["action"] = "accept"
        r = c.post(f"/api/v1/queue/items/{held['id']}/{verb}", body, format="json")
        assert r.status_code == 400 and "generation" in r.json()["errors"], (verb, r.content)
    assert ReviewItem.objects.get(pk=held["id"]).status == S.CLAIMED


def test_guideline_version_out_of_range_is_a_400(pooled_reviewer, fraud_model):
    fx.make_items(fraud_model, 1)
    c = user_client(pooled_reviewer)
    held = c.post("/api/v1/queue/claim").json()
    body = {"action": "accept", "generation": held["claim_generation"], "guideline_version": HUGE}
    r = c.post(f"/api/v1/queue/items/{held['id']}/decide", body, format="json")
    assert r.status_code == 400 and list(r.json()["errors"]) == ["guideline_version"]


def test_decide_page_with_a_superscript_generation_is_a_stale_claim_not_500(
    pooled_reviewer, fraud_model
):
    fx.make_items(fraud_model, 1)
    c = page_client(pooled_reviewer)
    c.post("/queue/next/")
    item = ReviewItem.objects.get(status=S.CLAIMED)
    r = c.post(f"/queue/items/{item.pk}/decide/", {"action": "accept", "generation": "²"})
    assert r.status_code == 409
    assert not Decision.objects.exists()


def test_feed_limit_and_cursor_are_bounded(api, fraud_model):
    import base64

    assert api.get("/api/v1/decisions", {"limit": "²"}).status_code == 400
    cursor = base64.urlsafe_b64encode(f"d1:{HUGE}".encode()).decode().rstrip("=")
    r = api.get("/api/v1/decisions", {"after": cursor})
    assert r.status_code == 400 and list(r.json()["errors"]) == ["after"]


def test_catalog_pages_and_offsets_are_bounded(engineer):
    assert page_client(engineer).get("/catalog/", {"page": HUGE}).status_code == 200
    assert page_client(engineer).get("/catalog/", {"page": "²"}).status_code == 200
    r = user_client(engineer).get("/api/v1/failure-modes", {"offset": HUGE})
    assert r.status_code == 400 and list(r.json()["errors"]) == ["offset"]


# --- 2. NUL and lone surrogates at the edge --------------------------------------------------
@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/decisions", "model"),
        ("/api/v1/failure-modes", "deployment"),
        ("/api/v1/queue/items", "assignee"),
    ],
)
def test_nul_in_an_api_query_is_a_json_400_naming_it(url, param, lead, fraud_model):
    r = user_client(lead).get(url, {param: "card\x00fraud"})
    assert r.status_code == 400 and r["Content-Type"] == "application/json"
    assert list(r.json()["errors"]) == [param]


def test_nul_in_a_page_query_or_form_is_an_html_400_naming_it(lead, fraud_model):
    c = page_client(lead)
    r = c.get("/queue/", {"assignee": "a\x00"})
    assert r.status_code == 400 and "assignee" in r.content.decode()
    assert r["Content-Type"].startswith("text/html")
    r = c.post(f"/queue/guidelines/{fraud_model.slug}/", {"body": "x\x00y", "note": "n"})
    assert r.status_code == 400 and "body" in r.content.decode()
    assert not GuidelineVersion.objects.exists()
    r = c.post("/queue/bulk/", {"action": "assign", "assignee": "\x00", "items": ["1"]})
    assert r.status_code == 400
    r = c.post("/queue/pools/", {"model": fraud_model.slug, "user": "ana\x00"})
    assert r.status_code == 400


def test_nul_in_a_decide_reason_is_refused_and_nothing_is_written(pooled_reviewer, fraud_model):
    fx.make_items(fraud_model, 1)
    c = page_client(pooled_reviewer)
    c.post("/queue/next/")
    item = ReviewItem.objects.get(status=S.CLAIMED)
    post = {"action": "override", "label": "legit", "reason": "bad\x00", "generation": "1"}
    assert c.post(f"/queue/items/{item.pk}/decide/", post).status_code == 400
    assert not Decision.objects.exists()


def test_lone_surrogate_or_nul_in_a_json_body_names_the_field(pooled_reviewer, fraud_model):
    fx.make_items(fraud_model, 1)
    c = user_client(pooled_reviewer)
    held = c.post("/api/v1/queue/claim").json()
    body = json.dumps({"action": "escalate", "generation": held["claim_generation"]})
    # json.dumps would escape these the same way; written out so the test shows the bytes sent.
    body = body[:-1] + ', "note": "\\ud800", "reason": "a\\u0000"}'
    r = c.post(f"/api/v1/queue/items/{held['id']}/decide", body, content_type="application/json")
    assert r.status_code == 400 and set(r.json()["errors"]) == {"note", "reason"}
    assert not Decision.objects.exists()


def test_one_body_parser_refuses_what_ingestion_refuses():
    for body in (
        b'{"a": NaN}',
        b'{"a": 1e999}',
        b"\xff\xfe{}",
        b'{"a": "\\u0000"}',
        b"[" * 40 + b"]" * 40,
    ):
        with pytest.raises(ServiceError) as exc:
            load_json_body(body)
        assert exc.value.status == 400
    assert load_json_body(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


# --- 3. categories, time zones, minutes, depth ------------------------------------------------
def test_unknown_category_is_a_400_naming_it(engineer):
    for url in ("/api/v1/failure-modes", "/api/v1/failure-mode-facets"):
        r = user_client(engineer).get(url, {"category": "no-such-category"})
        assert r.status_code == 400 and list(r.json()["errors"]) == ["category"]
    page = page_client(engineer).get("/catalog/", {"category": "no-such-category"})
    assert page.status_code == 400 and "category" in page.content.decode()


@pytest.mark.parametrize(
    "since",
    [
        "2026-11-01T00:00:00+99:00",
        "2026-11-01T00:00:00+24:00",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
        "2026-13-45T00:00:00Z",
    ],  # fmt: skip
)
def test_export_time_out_of_range_is_a_400(api, fraud_model, since):
    r = api.get("/api/v1/decisions/export", {"since": since})
    assert r.status_code == 400 and list(r.json()["errors"]) == ["since"]


def test_export_until_the_last_day_is_a_400(api, fraud_model):
    r = api.get("/api/v1/decisions/export", {"until": "9999-12-31"})
    assert r.status_code == 400 and list(r.json()["errors"]) == ["until"]


def test_mitigation_minutes_out_of_range_is_a_field_error(db):
    editor = UserFactory(username="edith", roles=["catalog_editor"])
    post = {"title": "Roll back", "kind": "rollback", "summary": "S.", "review_interval_days": "91",
            "expected_ttr_minutes": HUGE}  # fmt: skip
    r = page_client(editor).post("/catalog/mitigations/new/", post)
    assert r.status_code in (200, 400) and "expected_ttr_minutes" in r.content.decode()
    assert not MitigationTemplate.objects.exists()
    from catalog import services

    with pytest.raises(ServiceError) as exc:
        services.mitigation_create(user=editor, data={**post, "expected_ttr_minutes": 2**40})
    assert "expected_ttr_minutes" in exc.value.errors


def test_deep_json_to_decide_and_catalog_import_is_a_400(pooled_reviewer, fraud_model):
    deep = "[" * 10_000 + "]" * 10_000
    fx.make_items(fraud_model, 1)
    held = user_client(pooled_reviewer).post("/api/v1/queue/claim").json()
    r = user_client(pooled_reviewer).post(
        f"/api/v1/queue/items/{held['id']}/decide", deep, content_type="application/json"
    )
    assert r.status_code == 400 and "body" in r.json()["errors"]
    editor = UserFactory(username="edith", roles=["catalog_editor"])
    r = user_client(editor).post("/api/v1/catalog", deep, content_type="application/json")
    assert r.status_code == 400


# --- 4. service tokens asking for HTML -------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models",
        "/api/v1/predictions/1",
        "/api/v1/queue/items",
        "/api/v1/decisions",
        "/api/v1/failure-modes",
        "/api/v1/failure-mode-facets",
        "/api/v1/catalog",
    ],  # fmt: skip
)
def test_every_endpoint_answers_json_to_a_token_that_accepts_html(api, url):
    r = api.get(url, HTTP_ACCEPT="text/html")
    assert r.status_code < 500 and r["Content-Type"].startswith("application/json"), url


def test_a_prediction_sent_accepting_html_is_stored_once_and_answered_json(api, fraud_model):
    body = json.dumps(envelope_for(fraud_model))
    r = api.post(
        "/api/v1/predictions", body, content_type="application/json", HTTP_ACCEPT="text/html"
    )
    assert r.status_code == 202 and r["Content-Type"].startswith("application/json")
    assert Prediction.objects.count() == 1


@pytest.mark.parametrize("fmt", ["xml", "html", "api", "csv"])
@pytest.mark.parametrize(
    "url",
    ["/api/v1/models", "/api/v1/decisions", "/api/v1/change-requests",
     "/api/v1/models/card-fraud/policy-versions", "/api/v1/failure-modes"],
)  # fmt: skip
def test_a_format_parameter_naming_no_renderer_is_answered_json_not_404(api, fraud_model, url, fmt):
    """DRF reads ``?format=`` as a renderer's name and answered 404 "Not found." when none
    has it, an answer no list operation documents and a lie about the resource. The API
    answers JSON whatever the client asks for, so an unknown format is ignored like an
    unknown Accept header."""
    if "/models" not in url or "policy-versions" in url:  # a person's endpoints
        api = user_client(UserFactory(username="fmt-engineer", roles=["engineer"]))
    plain = api.get(url)
    r = api.get(url, {"format": fmt})
    assert r.status_code == plain.status_code == 200, (url, r.content[:200])
    assert r["Content-Type"].startswith("application/json")


def test_a_prediction_sent_with_format_xml_is_stored_once_and_answered_json(api, fraud_model):
    body = json.dumps(envelope_for(fraud_model))
    r = api.post("/api/v1/predictions?format=xml", body, content_type="application/json")
    assert r.status_code == 202 and r["Content-Type"].startswith("application/json")
    assert Prediction.objects.count() == 1


def test_the_schema_still_takes_format_json_and_yaml(api):
    assert api.get("/api/schema/", {"format": "json"})["Content-Type"].startswith(
        "application/vnd.oai.openapi+json"
    )
    assert api.get("/api/schema/", {"format": "yaml"}).content.startswith(b"openapi:")


def test_a_service_principal_has_no_roles_and_no_groups(api, service_token):
    from reviewapp.auth import ServicePrincipal
    from reviewapp.core.roles import user_roles
    from reviewapp.models import ServiceAccount

    principal = ServicePrincipal(ServiceAccount.objects.get())
    assert list(principal.groups.all()) == [] and user_roles(principal) == set()


# --- 5. unknown fields -----------------------------------------------------------------------
def test_decide_refuses_unknown_fields_and_names_them(pooled_reviewer, fraud_model):
    fx.make_items(fraud_model, 1)
    c = user_client(pooled_reviewer)
    held = c.post("/api/v1/queue/claim").json()
    body = {"action": "accept", "generation": held["claim_generation"], "reviewer": "boss",
            "decided_at": "2020-01-01T00:00:00Z"}  # fmt: skip
    r = c.post(f"/api/v1/queue/items/{held['id']}/decide", body, format="json")
    assert r.status_code == 400 and set(r.json()["errors"]) == {"reviewer", "decided_at"}
    assert not Decision.objects.exists()
    r = c.post(f"/api/v1/queue/items/{held['id']}/renew", {"generation": 1, "x": 1}, format="json")
    assert r.status_code == 400 and list(r.json()["errors"]) == ["x"]


# --- 6. bulk release with a mistyped filter --------------------------------------------------
def test_bulk_release_with_a_mistyped_filter_changes_nothing(lead, pooled_reviewer, fraud_model):
    for item in fx.make_items(fraud_model, 3):
        review_item_assign(item_id=item.pk, assignee=pooled_reviewer, by=lead)
    c = page_client(lead)
    post = {"action": "release", "scope": "filter", "query": "model=card-fraudd&status=claimed",
            "confirm": "3"}  # fmt: skip
    r = c.post("/queue/bulk/", post)
    assert r.status_code == 400
    html = r.content.decode()
    assert "model" in html and "card-fraudd" in html and "Nothing was changed" in html
    assert ReviewItem.objects.filter(status=S.CLAIMED).count() == 3


def test_bulk_release_asks_with_the_count_then_acts_on_it(lead, pooled_reviewer, fraud_model):
    for item in fx.make_items(fraud_model, 3)[:2]:
        review_item_assign(item_id=item.pk, assignee=pooled_reviewer, by=lead)
    c = page_client(lead)
    post = {"action": "release", "scope": "filter", "query": "model=card-fraud&status=claimed"}
    asked = c.post("/queue/bulk/", post)
    assert "Release 2 claimed items of card-fraud?" in asked.content.decode()
    assert ReviewItem.objects.filter(status=S.CLAIMED).count() == 2
    # A stale count (the queue moved since) asks again instead of acting.
    again = c.post("/queue/bulk/", {**post, "confirm": "5"})
    assert again.status_code == 200 and "The queue changed" in again.content.decode()
    assert ReviewItem.objects.filter(status=S.CLAIMED).count() == 2
    done = c.post("/queue/bulk/", {**post, "confirm": "2"})
    assert done.status_code == 302
    assert not ReviewItem.objects.filter(status=S.CLAIMED).exists()


def test_queue_list_with_a_mistyped_filter_lists_nothing(lead, fraud_model):
    fx.make_items(fraud_model, 2)
    r = page_client(lead).get("/queue/", {"model": "card-fraudd"})
    assert r.status_code == 400
    html = r.content.decode()
    assert 'id="filter-errors"' in html and "card-fraudd" in html
    assert "/queue/items/" not in html.split('id="queue-results"')[1]
