"""The per-model policy pages: current policy, history, diff, export, rollbacks."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from reviewapp.core.audit import Actor
from reviewapp.governance import describe, services
from reviewapp.governance.models import ChangeRequest, DocumentKind, DocumentVersion, PolicyVersion
from reviewapp.models import MLModel, PoolMembership
from tests.factories import MLModelFactory, UserFactory, signed_in_queries

from .cr_helpers import approve, proposal, submitted

pytestmark = pytest.mark.django_db

SEGMENTED = proposal(
    schema=2,
    max_auto_error_rate=0.02,
    segments=[
        {
            "name": "high-value",
            "conditions": [
                {"field": "input.amount", "op": ">=", "value": 10000},
                {"field": "input.country", "op": "in", "value": ["NL", "DE"]},
            ],
            "min_confidence": 0.95,
            "qa_sample_rate": 0.1,
            "tier": "critical",
        }
    ],
    escalation={"deferrals_before_escalation": 2},
)


def url(name: str, slug: str = "card-fraud") -> str:
    return reverse(f"governance:{name}", args=[slug])


@pytest.fixture
def pooled(fraud_model):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


@pytest.fixture
def outsider(db):
    """A reviewer whose pools hold another model only."""
    other = MLModelFactory(slug="churn", labels=["stay", "leave"])
    user = UserFactory(username="ravi", roles=["reviewer"])
    PoolMembership.objects.create(model=other, user=user)
    return user


@pytest.fixture
def two_versions(fraud_model, proposer, committee):
    """v1 (the fixture's) and v2, applied by a request sam proposed and cora and cole approved."""
    cr, digest = submitted(fraud_model, proposer, SEGMENTED)
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    cr.refresh_from_db()
    assert cr.applied_version == 2
    return cr


def as_user(client, user):
    client.force_login(user)
    return client


# --- who sees what ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["model-policy", "policy-history", "policy-diff", "policy-export"])
def test_leads_committee_and_engineers_read_every_page(client, two_versions, lead, name):
    cora = UserFactory(username="cora")
    sam = UserFactory(username="sam")
    query = "?a=1&b=2" if name == "policy-diff" else ""
    for user in (lead, cora, sam):
        response = as_user(client, user).get(url(name) + query)
        assert response.status_code == 200, (user, name)


def test_a_reviewer_reads_the_current_policy_of_a_pool_model_read_only(
    client, two_versions, pooled
):
    response = as_user(client, pooled).get(url("model-policy"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Routing policy v2" in html
    assert "input.amount is at least 10000" in html and "input.country is one of" in html
    # Read-only: no form on the page itself (the top bar's sign-out is the only post), no
    # history, no rollback, no proposal.
    assert 'method="post"' not in html.split('id="main"')[1]
    assert url("policy-history") not in html
    assert url("emergency-rollback") not in html


def test_a_reviewer_outside_the_pool_gets_404(client, two_versions, outsider):
    assert as_user(client, outsider).get(url("model-policy")).status_code == 404
    assert as_user(client, outsider).get(url("model-policy", "no-such-model")).status_code == 404


@pytest.mark.parametrize("name", ["policy-history", "policy-diff", "policy-export"])
def test_reviewers_read_only_the_current_policy(client, two_versions, pooled, outsider, name):
    for user in (pooled, outsider):
        assert as_user(client, user).get(url(name) + "?a=1&b=2").status_code == 403


def test_a_catalog_editor_is_refused(client, two_versions):
    edith = UserFactory(username="edith", roles=["catalog_editor"])
    assert as_user(client, edith).get(url("model-policy")).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, two_versions):
    response = client.get(url("model-policy"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- the current policy -----------------------------------------------------------------------
def test_the_current_policy_page_says_every_rule_and_who_made_it(client, two_versions, lead):
    html = as_user(client, lead).get(url("model-policy")).content.decode()
    v2 = PolicyVersion.objects.get(model_slug="card-fraud", version=2)
    assert v2.short_hash in html and v2.rules_hash in html
    assert f"/governance/requests/{two_versions.pk}/" in html
    assert "cora" in html and "cole" in html and "sam" in html
    assert "Fewer false alarms on small amounts." in html
    assert "high-value" in html and "0.95" in html
    assert "2 %" in html  # tolerated error rate


def test_a_schema_1_policy_says_its_tolerated_error_rate_is_not_set(client, fraud_model, lead):
    html = as_user(client, lead).get(url("model-policy")).content.decode()
    assert "Not set (a schema 1 policy)" in html
    assert "made before change requests existed" in html
    assert "Deferrals before an item escalates to a lead" in html
    assert url("emergency-rollback") in html  # a lead sees the way to it


def test_the_current_policy_shows_the_model_settings_document(client, two_versions, lead):
    services.change_request_bootstrap(
        model_slug="card-fraud",
        kind=DocumentKind.MODEL_SETTINGS,
        document={
            "criticality": "critical",
            "cost_of_wrong_decision": 250,
            "cost_per_hour_of_delay": 40,
            "regulatory_class": "regulated",
        },
        rationale="First settings.",
        actor=Actor.system("tests"),
    )
    html = as_user(client, lead).get(url("model-policy")).content.decode()
    assert "Cost of a wrong automated decision" in html and "250" in html
    assert "“regulated”" in html
    # Strict output in words, off until a settings version sets it.
    assert "A label its own scores contradict" in html
    assert "Sent to review (reason: label disagrees with the model's own scores)" in html
    fraud = MLModel.objects.get(slug="card-fraud")
    fraud.strict_output = True
    fraud.save(update_fields=["strict_output"])
    html = as_user(client, lead).get(url("model-policy")).content.decode()
    assert "Refused: the producer gets a 400 naming output.label and output.scores." in html


# --- history ----------------------------------------------------------------------------------
def test_the_history_lists_every_version_with_proposer_approvers_and_why(
    client, two_versions, engineer
):
    html = as_user(client, engineer).get(url("policy-history")).content.decode()
    v1, v2 = PolicyVersion.objects.filter(model_slug="card-fraud").order_by("version")
    for v in (v1, v2):
        assert f"<strong>v{v.version}</strong>" in html and v.short_hash in html
    assert "cora, cole" in html
    assert "Fewer false alarms on small amounts." in html
    # Engineers may propose a rollback to an inactive version, not to the active one.
    assert 'form="rollback-1"' in html and 'form="rollback-2"' not in html
    assert url("policy-export") + "?format=csv" in html


def test_the_committee_reads_the_history_but_may_not_propose(client, two_versions, committee):
    html = as_user(client, committee[2]).get(url("policy-history")).content.decode()
    assert "Propose a rollback" not in html
    assert "Emergency rollback" not in html


# --- diff -------------------------------------------------------------------------------------
def test_the_diff_names_each_changed_rule(client, two_versions, lead):
    response = as_user(client, lead).get(url("policy-diff") + "?a=1&b=2")
    assert response.status_code == 200
    changed = {r.path: r for r in response.context["changed"]}
    assert changed["min_confidence"].a == "0.7" and changed["min_confidence"].b == "0.75"
    assert changed["max_auto_error_rate"].change == "added"
    assert changed["segments[high-value].min_confidence"].b == "0.95"
    assert changed["escalation.deferrals_before_escalation"].b == "2"
    assert "sla_minutes.critical" not in changed  # unchanged rules are not "changed"
    html = response.content.decode()
    assert "Threshold" in html and "Segment high-value" in html


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("?a=x&b=2", 400, "a"),
        ("?a=1", 400, "b"),
        ("?a=1&b=9", 404, "b"),
        ("?a=1&b=2&kind=no_such_kind", 400, "kind"),
    ],
)
def test_a_bad_diff_address_is_a_4xx_naming_the_parameter(
    client, two_versions, lead, query, status, field
):
    response = as_user(client, lead).get(url("policy-diff") + query)
    assert response.status_code == status
    assert f"<strong>{field}</strong>" in response.content.decode()


def test_a_segment_moved_in_order_is_one_row():
    a = {"segments": [{"name": "x", "conditions": []}, {"name": "y", "conditions": []}]}
    b = {"segments": [{"name": "y", "conditions": []}, {"name": "x", "conditions": []}]}
    changed = [r for r in describe.diff(a, b) if r.change != "same"]
    assert [r.path for r in changed] == ["segments.order"]


# --- export -----------------------------------------------------------------------------------
def test_the_json_export_holds_every_version_with_its_fields(client, two_versions, lead):
    response = as_user(client, lead).get(url("policy-export") + "?format=json")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    body = json.loads(response.content)
    assert body["model"] == "card-fraud"
    by_version = {v["version"]: v for v in body["versions"] if v["kind"] == "routing_policy"}
    v2 = PolicyVersion.objects.get(model_slug="card-fraud", version=2)
    assert by_version[2] | {"active_from": None} == {
        "model": "card-fraud",
        "kind": "routing_policy",
        "version": 2,
        "hash": v2.rules_hash,
        "is_active": True,
        "active_from": None,
        "active_to": None,
        "proposed_by": "sam",
        "approved_by": ["cora", "cole"],
        "change_request": two_versions.pk,
        "emergency": False,
        "rationale": "Fewer false alarms on small amounts.",
        "document": SEGMENTED,
    }
    assert by_version[2]["active_from"].endswith("Z")
    assert by_version[1]["active_to"] == by_version[2]["active_from"]
    assert by_version[1]["proposed_by"] is None and by_version[1]["change_request"] is None


def test_the_csv_export_has_one_row_per_version(client, two_versions, lead):
    response = as_user(client, lead).get(url("policy-export") + "?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["kind"], r["version"]) for r in rows] == [
        ("routing_policy", "2"),
        ("routing_policy", "1"),
    ]
    assert rows[0]["approved_by"] == "cora cole" and rows[0]["is_active"] == "true"
    assert json.loads(rows[0]["document"]) == SEGMENTED


def test_an_unknown_export_format_is_a_400_naming_it(client, two_versions, lead):
    response = as_user(client, lead).get(url("policy-export") + "?format=xml")
    assert response.status_code == 400 and "<strong>format</strong>" in response.content.decode()


# --- emergency rollback -----------------------------------------------------------------------
def test_a_lead_rolls_back_in_an_emergency_and_every_page_flags_it(
    client, two_versions, lead, pooled
):
    as_user(client, lead)
    form = client.get(url("emergency-rollback"))
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="to_version" value="1"' in html and "v1" in html
    # Without a reason or the confirmation: the form again, nothing changes.
    refused = client.post(url("emergency-rollback"), {"to_version": "1", "reason": " "})
    assert refused.status_code == 400
    assert "confirm" in refused.context["errors"]
    assert not ChangeRequest.objects.filter(is_emergency=True).exists()

    response = client.post(
        url("emergency-rollback"),
        {"to_version": "1", "reason": "Queue flooded after v2", "confirm": "yes"},
    )
    cr = ChangeRequest.objects.get(is_emergency=True)
    assert response.status_code == 302 and response["Location"] == f"/governance/requests/{cr.pk}/"
    assert cr.applied_version == 3 and cr.reason == "Queue flooded after v2"
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 3

    for page in (url("model-policy"), url("policy-history"), "/dashboards/models/card-fraud/"):
        html = client.get(page).content.decode()
        assert 'data-testid="emergency-flag"' in html, page
        assert "Queue flooded after v2" in html
    html = as_user(client, pooled).get("/queue/?model=card-fraud").content.decode()
    assert 'data-testid="emergency-flag"' in html
    # Reviewers read the flag, not the request page (it is not theirs to open).
    assert f"/governance/requests/{cr.pk}/" not in html
    from tests.reviewapp import test_queue_fixtures as fx

    [item] = fx.make_items(MLModel.objects.get(slug="card-fraud"), 1)
    for page in (f"/queue/items/{item.pk}/", url("model-policy")):
        html = client.get(page).content.decode()
        assert 'data-testid="emergency-flag"' in html, page
        assert f"/governance/requests/{cr.pk}/" not in html, page


def test_an_engineer_may_not_roll_back_in_an_emergency(client, two_versions, engineer):
    as_user(client, engineer)
    assert client.get(url("emergency-rollback")).status_code == 403
    response = client.post(
        url("emergency-rollback"), {"to_version": "1", "reason": "x", "confirm": "yes"}
    )
    assert response.status_code == 403
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 2


def test_an_emergency_rollback_to_another_version_is_refused_with_a_message(
    client, two_versions, lead
):
    response = as_user(client, lead).post(
        url("emergency-rollback"), {"to_version": "2", "reason": "x", "confirm": "yes"}
    )
    assert response.status_code == 409
    assert "Only the previously active version (v1)" in response.content.decode()
    assert not ChangeRequest.objects.filter(is_emergency=True).exists()
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 2


def test_with_one_version_there_is_nothing_to_roll_back_to(client, fraud_model, lead):
    as_user(client, lead)
    page = client.get(url("emergency-rollback"))
    assert page.status_code == 200 and "no earlier active version" in page.content.decode()
    response = client.post(
        url("emergency-rollback"), {"to_version": "1", "reason": "x", "confirm": "yes"}
    )
    assert response.status_code == 409
    assert PolicyVersion.objects.filter(model_slug="card-fraud").count() == 1


# --- rollback through a request ---------------------------------------------------------------
def test_propose_a_rollback_drafts_a_request_and_opens_it(client, two_versions, engineer):
    response = as_user(client, engineer).post(url("policy-rollback-draft"), {"to_version": "1"})
    cr = ChangeRequest.objects.get(restores_version=1)
    assert response.status_code == 302 and response["Location"] == f"/governance/requests/{cr.pk}/"
    assert cr.status == ChangeRequest.Status.DRAFT and cr.proposer == engineer
    assert cr.document == PolicyVersion.objects.get(model_slug="card-fraud", version=1).rules


def test_propose_a_rollback_to_the_active_version_says_why_not(client, two_versions, engineer):
    response = as_user(client, engineer).post(url("policy-rollback-draft"), {"to_version": "2"})
    assert response.status_code == 302 and response["Location"] == url("policy-history")
    assert not ChangeRequest.objects.filter(restores_version=2).exists()
    follow = client.get(response["Location"])
    assert "Equal to the active version v2" in follow.content.decode()


@pytest.mark.parametrize("value", ["", "abc", "99"])
def test_propose_a_rollback_with_a_bad_version_changes_nothing(
    client, two_versions, engineer, value
):
    before = ChangeRequest.objects.count()
    response = as_user(client, engineer).post(url("policy-rollback-draft"), {"to_version": value})
    assert response.status_code == 302 and ChangeRequest.objects.count() == before


def test_committee_members_do_not_propose_rollbacks(client, two_versions, committee):
    response = as_user(client, committee[0]).post(url("policy-rollback-draft"), {"to_version": "1"})
    assert response.status_code == 403


# --- links from the queue and the dashboards --------------------------------------------------
def test_the_item_page_links_the_policy_that_routed_it(client, fraud_model, pooled):
    from tests.reviewapp import test_queue_fixtures as fx

    [item] = fx.make_items(fraud_model, 1)
    html = as_user(client, pooled).get(f"/queue/items/{item.pk}/").content.decode()
    assert url("model-policy") in html


def test_the_dashboards_model_page_links_the_policy(client, two_versions, lead):
    html = as_user(client, lead).get("/dashboards/models/card-fraud/").content.decode()
    assert url("model-policy") in html and url("policy-history") in html


# --- query counts -----------------------------------------------------------------------------
def _more_versions(model, proposer, committee, n: int) -> None:
    for i in range(n):
        cr, digest = submitted(model, proposer, proposal(min_confidence=0.5 + i / 100))
        approve(cr, committee[0], digest)
        approve(cr, committee[1], digest)


@pytest.mark.parametrize("name", ["model-policy", "policy-history", "policy-export"])
def test_the_pages_read_a_fixed_number_of_queries(
    client, fraud_model, proposer, committee, lead, django_assert_max_num_queries, name
):
    _more_versions(fraud_model, proposer, committee, 2)
    as_user(client, lead).get(url(name))  # warm the session
    # 9 for the page (the history reads each of the 4 governed kinds' versions) and 1 for the
    # model's fail-safe banner (core.model_banners)
    with django_assert_max_num_queries(signed_in_queries(10)) as few:
        assert client.get(url(name)).status_code == 200
    _more_versions(fraud_model, proposer, committee, 4)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url(name)).status_code == 200


# --- the admin --------------------------------------------------------------------------------
def test_the_admin_shows_every_governed_document_read_only(client, two_versions):
    services.change_request_bootstrap(
        model_slug="card-fraud",
        kind=DocumentKind.MODEL_SETTINGS,
        document={
            "criticality": "critical",
            "cost_of_wrong_decision": 1,
            "cost_per_hour_of_delay": 1,
            "regulatory_class": "none",
        },
        rationale="First settings.",
        actor=Actor.system("tests"),
    )
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    as_user(client, root)
    v2 = PolicyVersion.objects.get(model_slug="card-fraud", version=2)
    settings_version = DocumentVersion.objects.get(model_slug="card-fraud")
    for path, obj in (
        ("policyversion", v2),
        ("documentversion", settings_version),
        ("changerequest", two_versions),
    ):
        assert client.get(f"/admin/governance/{path}/").status_code == 200
        assert client.get(f"/admin/governance/{path}/add/").status_code == 403
        change = client.get(f"/admin/governance/{path}/{obj.pk}/change/")
        assert change.status_code == 200
        assert 'type="submit"' not in change.content.decode().split('id="content-main"')[1]
        assert client.post(f"/admin/governance/{path}/{obj.pk}/change/", {}).status_code == 403
        deleted = client.post(f"/admin/governance/{path}/{obj.pk}/delete/", {"post": "yes"})
        assert deleted.status_code == 403
    two_versions.refresh_from_db()
    assert two_versions.status == ChangeRequest.Status.APPLIED


def test_a_lead_in_the_admin_cannot_change_a_models_criticality(client, fraud_model, lead):
    lead.is_staff = True
    lead.save()
    as_user(client, lead)
    path = f"/admin/reviewapp/mlmodel/{fraud_model.pk}/change/"
    response = client.post(
        path,
        {
            "slug": "card-fraud",
            "name": fraud_model.name,
            "owner_team": fraud_model.owner_team,
            "criticality": "low",
            "labels": '["fraud", "legit"]',
        },
    )
    assert response.status_code == 403
    fraud_model.refresh_from_db()
    assert fraud_model.criticality == "critical"
    # Nor through the lead group's own permissions.
    assert client.get("/admin/auth/group/").status_code == 403


def test_a_segment_without_its_own_rate_says_the_policys_value():
    view = describe.policy_view(
        proposal(schema=2, max_auto_error_rate=0.02, qa_sample_rate=0.05,
                 segments=[{"name": "eu", "conditions": [
                     {"field": "input.country", "op": "in", "value": ["NL"]}]}])
    )  # fmt: skip
    [segment] = view.segments
    assert segment.threshold == "0.75 (the policy's)"
    assert segment.qa_sample_rate == "5 % (the policy's)"
    assert segment.conditions == ["input.country is one of “NL”"]
