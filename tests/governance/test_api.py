"""The governance REST API (issue 13, "API (fixed)"): paths, field names, status codes, the
error shape, pagination, who may call what. The rules behind each answer are the services'
(tested beside them); these tests hold the HTTP contract."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.accounts.services import personal_token_create
from reviewapp.governance import services
from reviewapp.governance.models import ChangeRequest, PolicyVersion
from reviewapp.models import PoolMembership
from tests.factories import (
    DEFAULT_RULES,
    MLModelFactory,
    UserFactory,
    make_policy,
    signed_in_queries,
)

from .cr_helpers import approve, give_evidence, other_hash, proposal, submitted

pytestmark = pytest.mark.django_db
S = ChangeRequest.Status
# count, page, votes, approval rules, models' criticality, voters, superusers
LIST_QUERIES = 7
BASE = "/api/v1/change-requests"
GET_KEYS = {
    # the contract (issue 13)
    "id", "model", "kind", "status", "stale", "base_version", "rules", "rules_hash",
    "rationale", "proposer", "required_approvals", "approvals", "evidence", "scheduled_for",
    "applied_version",
    # added
    "stale_version", "stale_by", "revision", "quorum_reasons", "committee_too_small",
    "rollback_triggers", "shadow_minutes", "restores_version", "is_emergency",
    "ratification_due", "ratified_at", "ratified_by", "applied_at", "created_at", "updated_at",
    "comments", "shadow",
}  # fmt: skip


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def errors(response) -> dict:
    body = response.json()
    assert set(body) == {"errors"}, body
    return body["errors"]


def body_for(ml_model, **changes) -> dict:
    return {
        "model": ml_model.slug,
        "rules": proposal(),
        "rationale": "Fewer false alarms.",
        **changes,
    }


@pytest.fixture
def sam(proposer):
    return session_client(proposer)


# --- reading ----------------------------------------------------------------------------------
def test_get_shows_the_contract_fields_with_usernames_versions_and_utc_times(
    fraud_model, proposer, committee
):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest, comment="Looks right.")
    response = client_for(committee[1]).get(f"{BASE}/{cr.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == GET_KEYS
    active = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert body["id"] == cr.pk and body["model"] == "card-fraud"
    assert body["kind"] == "routing_policy" and body["status"] == "in_review"
    assert body["stale"] is False and body["base_version"] == active.version
    assert body["rules"] == proposal() and body["rules_hash"] == cr.document_hash
    assert body["proposer"] == "sam" and body["required_approvals"] == 2
    assert body["approvals"] == [
        {
            "user": "cora",
            "at": body["approvals"][0]["at"],
            "evidence_hash": digest,
            "comment": "Looks right.",
        }
    ]
    assert body["approvals"][0]["at"].endswith("Z") and body["created_at"].endswith("Z")
    assert body["evidence"]["hash"] == digest and body["evidence"]["state"] == "ready"
    assert body["scheduled_for"] is None and body["applied_version"] is None


def test_evidence_pending_and_failed_say_so(fraud_model, proposer):
    cr = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(), rationale="Why not."
    )
    body = client_for(proposer).get(f"{BASE}/{cr.pk}").json()
    assert body["evidence"] == {"hash": None, "state": "pending"}
    ChangeRequest.objects.filter(pk=cr.pk).update(
        evidence_state="failed", evidence_errors={"rules": ["Could not replay."]}
    )
    body = client_for(proposer).get(f"{BASE}/{cr.pk}").json()
    assert body["evidence"] == {
        "hash": None,
        "state": "failed",
        "errors": {"rules": ["Could not replay."]},
    }


def test_list_is_paginated_filtered_and_bounded_in_queries(
    fraud_model, proposer, committee, lead, django_assert_max_num_queries
):
    other = MLModelFactory(slug="churn", criticality="low")
    make_policy(other)
    for i in range(4):
        submitted(fraud_model, proposer, proposal(min_confidence=0.5 + i / 100))
    services.change_request_create(model_slug="churn", user=lead, document=proposal(),
                                   rationale="Churn too.")  # fmt: skip
    client = session_client(committee[0])
    with django_assert_max_num_queries(signed_in_queries(LIST_QUERIES)):
        response = client.get(f"{BASE}?limit=3")
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 5 and len(body["results"]) == 3 and body["previous"] is None
    assert "offset=3" in body["next"]
    assert set(body["results"][0]) == GET_KEYS - {"comments"}
    # the list's quorum is the same as one request's
    for item in body["results"]:
        assert (
            item["required_approvals"]
            == client.get(f"{BASE}/{item['id']}").json()["required_approvals"]
        )
    churn = client.get(f"{BASE}?model=churn").json()
    assert churn["count"] == 1 and churn["results"][0]["status"] == "draft"
    assert churn["results"][0]["required_approvals"] == 1
    assert client.get(f"{BASE}?status=in_review&kind=routing_policy").json()["count"] == 4
    assert client.get(f"{BASE}?status=draft&model=card-fraud").json()["count"] == 0


def test_the_list_costs_the_same_for_more_requests_and_models(
    fraud_model, proposer, committee, django_assert_max_num_queries
):
    for n in range(6):
        model = MLModelFactory(slug=f"m-{n}")
        make_policy(model)
        submitted(model, proposer)
    client = session_client(committee[0])
    with django_assert_max_num_queries(signed_in_queries(LIST_QUERIES)):
        assert len(client.get(BASE).json()["results"]) == 6


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=open", "status"), ("kind=no_such_kind", "kind"), ("offset=-1", "offset")],
)
def test_bad_filters_are_a_400_naming_them(fraud_model, committee, query, field):
    response = client_for(committee[0]).get(f"{BASE}?{query}")
    assert response.status_code == 400 and field in errors(response)


def test_an_unknown_request_is_a_404(committee):
    response = client_for(committee[0]).get(f"{BASE}/999999")
    assert response.status_code == 404 and "change_request" in errors(response)


# --- who may call -----------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["committee", "lead", "engineer"])
def test_committee_leads_and_engineers_read_requests(fraud_model, proposer, role):
    cr, _ = submitted(fraud_model, proposer)
    client = client_for(UserFactory(roles=[role]))
    assert client.get(BASE).status_code == 200
    assert client.get(f"{BASE}/{cr.pk}").status_code == 200


@pytest.mark.parametrize("role", ["reviewer", "catalog_editor"])
def test_other_roles_get_403(fraud_model, proposer, role):
    cr, _ = submitted(fraud_model, proposer)
    client = client_for(UserFactory(roles=[role]))
    assert client.get(BASE).status_code == 403
    assert client.get(f"{BASE}/{cr.pk}").status_code == 403
    assert client.post(BASE, body_for(fraud_model), format="json").status_code == 403


def test_a_service_token_gets_403_everywhere(api, fraud_model, proposer):
    cr, digest = submitted(fraud_model, proposer)
    assert api.get(BASE).status_code == 403
    assert api.get(f"{BASE}/{cr.pk}").status_code == 403
    assert api.post(BASE, body_for(fraud_model), format="json").status_code == 403
    response = api.post(f"{BASE}/{cr.pk}/approve", {"evidence_hash": digest}, format="json")
    assert response.status_code == 403 and "detail" in errors(response)
    assert api.get("/api/v1/models/card-fraud/policy-versions").status_code == 403
    rollback = {"to_version": 1, "reason": "x"}
    assert (
        api.post("/api/v1/models/card-fraud/emergency-rollback", rollback, format="json")
    ).status_code == 403


def test_no_credentials_is_a_401(fraud_model):
    assert APIClient().get(BASE).status_code == 401


def test_a_personal_token_acts_as_its_person(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    token = personal_token_create(user=committee[0], name="votes", days=7).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(f"{BASE}/{cr.pk}").status_code == 200
    response = client.post(f"{BASE}/{cr.pk}/approve", {"evidence_hash": digest}, format="json")
    assert response.status_code == 200
    assert [a["user"] for a in response.json()["approvals"]] == ["cora"]


def test_a_named_approver_group_member_reads_and_votes(fraud_model, proposer):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="fraud-approvers")
    services.approval_rule_set(
        model_slug="card-fraud", approver_group=group, required_approvals=1,
        user=UserFactory(username="admin", is_superuser=True),
    )  # fmt: skip
    voter = UserFactory(username="vera")
    voter.groups.add(group)
    cr, digest = submitted(fraud_model, proposer)
    client = client_for(voter)
    assert client.get(f"{BASE}/{cr.pk}").json()["required_approvals"] == 1
    response = client.post(f"{BASE}/{cr.pk}/approve", {"evidence_hash": digest}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "applied"


# --- propose and edit -------------------------------------------------------------------------
def test_an_engineer_proposes_and_gets_201_with_the_request(fraud_model, sam):
    response = sam.post(
        BASE,
        body_for(
            fraud_model,
            scheduled_for="2999-01-01T10:00:00+02:00",
            shadow_minutes=30,
            rollback_triggers=[
                {"metric": "override_rate", "op": ">", "bound": 0.15, "duration_minutes": 30}
            ],
        ),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == GET_KEYS and body["status"] == "draft" and body["proposer"] == "sam"
    assert body["scheduled_for"] == "2999-01-01T08:00:00Z" and body["shadow_minutes"] == 30
    assert body["rollback_triggers"][0]["metric"] == "override_rate"
    assert ChangeRequest.objects.get().document == proposal()


def test_a_committee_member_may_not_propose(fraud_model, committee):
    response = client_for(committee[0]).post(BASE, body_for(fraud_model), format="json")
    assert response.status_code == 403 and not ChangeRequest.objects.exists()


def test_each_bad_rule_is_named_by_its_path(fraud_model, sam):
    rules = {
        **DEFAULT_RULES,
        "schema": 2,
        "max_auto_error_rate": 0.02,
        "min_confidence": 3,
        "segments": [{"name": "big", "conditions": [], "min_confidence": 2}],
    }
    response = sam.post(BASE, body_for(fraud_model, rules=rules), format="json")
    assert response.status_code == 400
    found = errors(response)
    assert "rules.min_confidence" in found
    assert any(path.startswith("rules.segments[0].") for path in found), found
    assert not ChangeRequest.objects.exists()


def test_rules_that_are_not_an_object_are_named_rules(fraud_model, sam, proposer):
    response = sam.post(BASE, body_for(fraud_model, rules=[1]), format="json")
    assert response.status_code == 400 and "rules" in errors(response)
    # the service names it `rules` too (it used to say `rules.rules`)
    with pytest.raises(services.change_requests.ServiceError) as exc:
        services.change_request_create(
            model_slug="card-fraud", user=proposer, document="x", rationale="r"
        )
    assert set(exc.value.errors) == {"rules"}


def test_rules_equal_to_the_active_version_are_a_400(fraud_model, sam):
    response = sam.post(BASE, body_for(fraud_model, rules=DEFAULT_RULES), format="json")
    assert response.status_code == 400 and "rules" in errors(response)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"rationale": "  "}, "rationale", 400),
        ({"rationale": None}, "rationale", 400),
        ({"kind": "no_such_kind"}, "kind", 400),
        ({"model": "no-such-model"}, "model", 404),
        ({"scheduled_for": "yesterday"}, "scheduled_for", 400),
        ({"scheduled_for": "2001-01-01T00:00:00Z"}, "scheduled_for", 400),
        ({"shadow_minutes": 0}, "shadow_minutes", 400),
        ({"rollback_triggers": [{"metric": "x", "op": "="}]}, "rollback_triggers[0].op", 400),
        ({"reviewer": "cora"}, "reviewer", 400),
    ],
)
def test_bad_input_names_the_field(fraud_model, sam, changes, field, code):
    response = sam.post(BASE, body_for(fraud_model, **changes), format="json")
    assert response.status_code == code and field in errors(response), response.json()
    assert not ChangeRequest.objects.exists()


def test_model_settings_are_proposed_with_kind(fraud_model, sam):
    settings_doc = {
        "criticality": "medium",
        "cost_of_wrong_decision": 10,
        "cost_per_hour_of_delay": 2,
        "regulatory_class": "none",
    }
    response = sam.post(
        BASE, body_for(fraud_model, kind="model_settings", rules=settings_doc), format="json"
    )
    assert response.status_code == 201 and response.json()["kind"] == "model_settings"
    assert response.json()["base_version"] is None  # the first version of the kind


def test_patch_edits_rules_and_rationale_and_lapses_votes(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    response = client_for(proposer).patch(
        f"{BASE}/{cr.pk}",
        {"rules": proposal(min_confidence=0.8), "rationale": "Sharper."},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["rules"]["min_confidence"] == 0.8 and body["rationale"] == "Sharper."
    assert body["revision"] == 2 and body["approvals"] == []
    assert body["evidence"]["state"] == "pending"


def test_patch_by_another_person_is_403_and_after_review_409(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    other = client_for(UserFactory(roles=["engineer"]))
    assert other.patch(f"{BASE}/{cr.pk}", {"rationale": "Mine."}, format="json").status_code == 403
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)  # applied
    response = client_for(proposer).patch(f"{BASE}/{cr.pk}", {"rationale": "x"}, format="json")
    assert response.status_code == 409


def test_patch_bad_rules_are_named(fraud_model, proposer):
    cr, _ = submitted(fraud_model, proposer)
    response = client_for(proposer).patch(
        f"{BASE}/{cr.pk}", {"rules": proposal(min_confidence=-1)}, format="json"
    )
    assert response.status_code == 400 and "rules.min_confidence" in errors(response)


# --- actions ----------------------------------------------------------------------------------
def test_the_whole_flow_answers_200_with_the_request(fraud_model, proposer, committee):
    sam = client_for(proposer)
    created = sam.post(BASE, body_for(fraud_model), format="json").json()
    pk = created["id"]
    response = sam.post(f"{BASE}/{pk}/submit")
    assert response.status_code == 200 and set(response.json()) == GET_KEYS
    assert response.json()["status"] == "in_review"
    digest = give_evidence(ChangeRequest.objects.get(pk=pk))
    got = client_for(committee[0]).get(f"{BASE}/{pk}").json()
    assert got["evidence"]["hash"] == digest and got["evidence"]["summary"] == {}
    first = client_for(committee[0]).post(
        f"{BASE}/{pk}/approve", {"evidence_hash": digest, "comment": "ok"}, format="json"
    )
    assert first.status_code == 200 and first.json()["status"] == "in_review"
    second = client_for(committee[1]).post(
        f"{BASE}/{pk}/approve", {"evidence_hash": digest}, format="json"
    )
    assert second.status_code == 200
    assert second.json()["status"] == "applied" and set(second.json()) == GET_KEYS
    applied = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert second.json()["applied_version"] == applied.version


def test_submit_after_changes_requested_resubmits(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer)
    response = client_for(committee[0]).post(
        f"{BASE}/{cr.pk}/request-changes", {"comment": "Show the weekend."}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "changes_requested"
    assert response.json()["comments"][0]["body"] == "Show the weekend."
    response = client_for(proposer).post(f"{BASE}/{cr.pk}/submit")
    assert response.status_code == 200 and response.json()["status"] == "in_review"


def test_approving_ones_own_request_is_403_superuser_too(fraud_model):
    boss = UserFactory(username="root", is_superuser=True)
    cr, digest = submitted(fraud_model, boss)
    response = client_for(boss).post(
        f"{BASE}/{cr.pk}/approve", {"evidence_hash": digest}, format="json"
    )
    assert response.status_code == 403
    assert not cr.approvals.exists()


@pytest.mark.parametrize("role", ["lead", "engineer"])
def test_a_non_voter_may_not_approve_reject_or_request_changes(fraud_model, proposer, role):
    cr, digest = submitted(fraud_model, proposer)
    client = client_for(UserFactory(roles=[role]))
    assert client.post(f"{BASE}/{cr.pk}/approve", {"evidence_hash": digest},
                       format="json").status_code == 403  # fmt: skip
    assert client.post(f"{BASE}/{cr.pk}/reject", {"comment": "no"},
                       format="json").status_code == 403  # fmt: skip
    assert client.post(f"{BASE}/{cr.pk}/request-changes", {}, format="json").status_code == 403


def test_a_second_vote_is_409(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    response = client_for(committee[0]).post(
        f"{BASE}/{cr.pk}/approve", {"evidence_hash": digest}, format="json"
    )
    assert response.status_code == 409 and errors(response)


def test_an_evidence_hash_that_is_not_current_is_409_naming_it(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer)
    response = client_for(committee[0]).post(
        f"{BASE}/{cr.pk}/approve", {"evidence_hash": other_hash()}, format="json"
    )
    assert response.status_code == 409 and "evidence_hash" in errors(response)


def test_approving_a_stale_request_is_409(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    make_policy(fraud_model, proposal(min_confidence=0.61))  # the active version moves
    response = client_for(committee[0]).post(
        f"{BASE}/{cr.pk}/approve", {"evidence_hash": digest}, format="json"
    )
    assert response.status_code == 409
    assert client_for(committee[0]).get(f"{BASE}/{cr.pk}").json()["stale"] is True


def test_approve_needs_an_evidence_hash(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer)
    response = client_for(committee[0]).post(f"{BASE}/{cr.pk}/approve", {}, format="json")
    assert response.status_code == 400 and "evidence_hash" in errors(response)


def test_a_calibration_warning_needs_acknowledge_risk(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer, summary={"calibration_warning": True})
    client = client_for(committee[0])
    response = client.post(f"{BASE}/{cr.pk}/approve", {"evidence_hash": digest}, format="json")
    assert response.status_code == 400 and "acknowledge_risk" in errors(response)
    response = client.post(
        f"{BASE}/{cr.pk}/approve",
        {"evidence_hash": digest, "acknowledge_risk": True},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["required_approvals"] == 3 and len(body["quorum_reasons"]) == 1


def test_reject_needs_a_comment(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer)
    client = client_for(committee[0])
    for payload in ({}, {"comment": " "}):
        response = client.post(f"{BASE}/{cr.pk}/reject", payload, format="json")
        assert response.status_code == 400 and "comment" in errors(response)
    response = client.post(f"{BASE}/{cr.pk}/reject", {"comment": "Too risky."}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected"


def test_a_transition_not_allowed_from_the_state_is_409(fraud_model, proposer, committee):
    draft = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(), rationale="Why."
    )
    client = client_for(committee[0])
    assert client.post(f"{BASE}/{draft.pk}/reject", {"comment": "x"},
                       format="json").status_code == 409  # fmt: skip
    sam = client_for(proposer)
    assert sam.post(f"{BASE}/{draft.pk}/withdraw").status_code == 200
    assert sam.post(f"{BASE}/{draft.pk}/submit").status_code == 409
    assert sam.post(f"{BASE}/{draft.pk}/withdraw").status_code == 409
    assert sam.post(f"{BASE}/{draft.pk}/rebase").status_code == 409
    assert client.post(f"{BASE}/{draft.pk}/ratify", {}, format="json").status_code == 409


def test_only_the_proposer_submits_withdraws_and_rebases(fraud_model, proposer):
    draft = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(), rationale="Why."
    )
    other = client_for(UserFactory(roles=["lead"]))
    for action in ("submit", "withdraw", "rebase"):
        assert other.post(f"{BASE}/{draft.pk}/{action}").status_code == 403
    ChangeRequest.objects.get(pk=draft.pk)  # untouched
    assert ChangeRequest.objects.get(pk=draft.pk).status == S.DRAFT


def test_rebase_moves_a_stale_request_onto_the_active_version(fraud_model, proposer):
    cr, _ = submitted(fraud_model, proposer)
    moved = make_policy(fraud_model, proposal(min_confidence=0.61))
    response = client_for(proposer).post(f"{BASE}/{cr.pk}/rebase")
    assert response.status_code == 200
    body = response.json()
    assert body["stale"] is False and body["base_version"] == moved.version


def test_comment_takes_markdown_and_names_a_missing_body(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer)
    client = client_for(committee[0])
    response = client.post(f"{BASE}/{cr.pk}/comment", {"body": "**Why** 0.75?"}, format="json")
    assert response.status_code == 200
    comment = response.json()["comments"][0]
    assert comment["author"] == "cora" and "<strong>Why</strong>" in comment["html"]
    response = client.post(f"{BASE}/{cr.pk}/comment", {}, format="json")
    assert response.status_code == 400 and "body" in errors(response)
    reviewer = client_for(UserFactory(roles=["reviewer"]))
    assert reviewer.post(f"{BASE}/{cr.pk}/comment", {"body": "x"},
                         format="json").status_code == 403  # fmt: skip


def test_an_action_on_an_unknown_request_is_404(committee):
    response = client_for(committee[0]).post(
        f"{BASE}/424242/approve", {"evidence_hash": other_hash()}, format="json"
    )
    assert response.status_code == 404


# --- policy versions and the emergency rollback ------------------------------------------------
def _two_versions(model, committee, proposer):
    """v1 (the fixture's), then v2 applied by a request: v1 was active before v2."""
    cr, digest = submitted(model, proposer)
    approve(cr, committee[0], digest)
    return approve(cr, committee[1], digest)


def test_policy_versions_list_every_version_newest_first(fraud_model, proposer, committee, lead):
    cr = _two_versions(fraud_model, committee, proposer)
    response = session_client(lead).get("/api/v1/models/card-fraud/policy-versions")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 2
    newest, oldest = body["results"]
    assert {"version", "rules", "rules_hash", "is_active", "activated_at", "created_by",
            "change_request"} <= set(newest)  # fmt: skip
    assert newest["version"] == 2 and newest["is_active"] is True
    assert newest["change_request"] == cr.pk and newest["created_by"] == "sam"
    assert newest["activated_at"].endswith("Z") and newest["rules"] == proposal()
    assert oldest["version"] == 1 and oldest["is_active"] is False
    assert oldest["change_request"] is None and oldest["created_by"] is None


def test_reviewers_read_the_policies_of_their_pools_only(fraud_model, reviewer):
    other = MLModelFactory(slug="churn")
    make_policy(other)
    PoolMembership.objects.create(user=reviewer, model=fraud_model)
    client = client_for(reviewer)
    assert client.get("/api/v1/models/card-fraud/policy-versions").status_code == 200
    hidden = client.get("/api/v1/models/churn/policy-versions")
    missing = client.get("/api/v1/models/no-such/policy-versions")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


@pytest.mark.parametrize("role", ["committee", "engineer", "lead"])
def test_leads_committee_and_engineers_read_every_models_policy(fraud_model, role):
    response = client_for(UserFactory(roles=[role])).get(
        "/api/v1/models/card-fraud/policy-versions"
    )
    assert response.status_code == 200 and response.json()["count"] == 1


def test_emergency_rollback_by_a_lead_and_its_ratification(fraud_model, proposer, committee, lead):
    _two_versions(fraud_model, committee, proposer)
    url = "/api/v1/models/card-fraud/emergency-rollback"
    response = client_for(lead).post(url, {"to_version": 1, "reason": "Queue exploded."},
                                     format="json")  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert set(body) == GET_KEYS
    assert body["is_emergency"] is True and body["status"] == "applied"
    assert body["restores_version"] == 1 and body["applied_version"] == 3
    assert body["ratification_due"].endswith("Z") and body["ratified_at"] is None
    active = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert active.rules == DEFAULT_RULES
    # the lead may not ratify their own rollback; a committee member does
    pk = body["id"]
    assert client_for(lead).post(f"{BASE}/{pk}/ratify", {}, format="json").status_code == 403
    ratified = client_for(committee[2]).post(
        f"{BASE}/{pk}/ratify", {"comment": "Right call."}, format="json"
    )
    assert ratified.status_code == 200 and ratified.json()["ratified_by"] == "cleo"
    again = client_for(committee[1]).post(f"{BASE}/{pk}/ratify", {}, format="json")
    assert again.status_code == 409


def test_emergency_rollback_to_another_version_is_409(fraud_model, proposer, committee, lead):
    _two_versions(fraud_model, committee, proposer)
    url = "/api/v1/models/card-fraud/emergency-rollback"
    for version in (2, 7):
        response = client_for(lead).post(url, {"to_version": version, "reason": "x"},
                                         format="json")  # fmt: skip
        assert response.status_code == 409 and "to_version" in errors(response)
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 2


def test_emergency_rollback_is_for_leads_and_names_bad_input(
    fraud_model, proposer, committee, lead
):
    _two_versions(fraud_model, committee, proposer)
    url = "/api/v1/models/card-fraud/emergency-rollback"
    for user in (committee[0], proposer, UserFactory(roles=["reviewer"])):
        response = client_for(user).post(url, {"to_version": 1, "reason": "x"}, format="json")
        assert response.status_code == 403
    client = client_for(lead)
    response = client.post(url, {"to_version": 1, "reason": " "}, format="json")
    assert response.status_code == 400 and "reason" in errors(response)
    response = client.post(url, {"reason": "x"}, format="json")
    assert response.status_code == 400 and "to_version" in errors(response)
    response = client.post("/api/v1/models/nope/emergency-rollback",
                           {"to_version": 1, "reason": "x"}, format="json")  # fmt: skip
    assert response.status_code == 404
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 2
    assert timezone.now()  # no partial write: still v2 active, no emergency request
    assert not ChangeRequest.objects.filter(is_emergency=True).exists()


def test_the_page_quorums_equal_each_requests_quorum(fraud_model, proposer, committee, lead):
    """selectors.quorums (a page, bounded queries) is selectors.quorum (one request)."""
    from django.contrib.auth.models import Group

    from reviewapp.governance import selectors

    admin = UserFactory(username="admin", is_superuser=True)
    churn = MLModelFactory(slug="churn", criticality="low")
    make_policy(churn)
    named = MLModelFactory(slug="named")
    make_policy(named)
    group = Group.objects.create(name="named-approvers")
    UserFactory(username="nia").groups.add(group)
    services.approval_rule_set(model_slug="named", user=admin, approver_group=group)
    UserFactory(username="gone", roles=["committee"], is_active=False)
    voted, digest = submitted(fraud_model, proposer, summary={"reviewed_volume_change": 0.5})
    approve(voted, committee[0], digest)
    requests = [
        voted,
        submitted(churn, lead)[0],
        submitted(named, proposer)[0],
        submitted(churn, admin)[0],  # a superuser proposer is no voter on their own request
        services.change_request_create(model_slug="card-fraud", user=proposer,
                                       document=proposal(min_confidence=0.9), rationale="r"),
    ]  # fmt: skip
    page = selectors.quorums(requests)
    assert page == {cr.pk: selectors.quorum(cr) for cr in requests}
    assert page[voted.pk].approvals == 1 and page[voted.pk].reasons


@pytest.mark.parametrize(
    "changes",
    [
        {"scheduled_for": "9999-12-31T23:59:59-23:59"},
        {"scheduled_for": "0001-01-01T00:00:00+23:59"},
        {"scheduled_for": 17},
        {"shadow_minutes": 10**30},
        {"rules": proposal(min_confidence=10**30)},
        {"rules": proposal(sla_minutes={"critical": 10**30, "high": 1, "medium": 1, "low": 1})},
        {"rules": {"schema": 2, "segments": [{"conditions": [{"path": "input.a"}]}]}},
        {"rollback_triggers": {"metric": "x"}},
        {"rollback_triggers": [{"metric": "override_rate", "op": ">", "bound": 10**400}]},
        {"model": "x" * 101},
    ],
)
def test_odd_input_is_a_4xx_never_a_500(fraud_model, sam, changes):
    response = sam.post(BASE, body_for(fraud_model, **changes), format="json")
    assert 400 <= response.status_code < 500 and errors(response), response.content
    assert not ChangeRequest.objects.exists()


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("approve", {"evidence_hash": "a" * 65}),
        ("approve", {"evidence_hash": "a", "acknowledge_risk": "maybe"}),
        ("reject", {"comment": ["x"]}),
    ],
)
def test_odd_action_bodies_are_a_400(fraud_model, proposer, committee, path, payload):
    cr, _ = submitted(fraud_model, proposer)
    response = client_for(committee[0]).post(f"{BASE}/{cr.pk}/{path}", payload, format="json")
    assert response.status_code == 400 and errors(response)


def test_huge_numbers_in_the_query_and_body_are_4xx(fraud_model, committee, lead):
    client = client_for(committee[0])
    assert client.get(f"{BASE}?offset={10**30}").status_code == 400
    assert client.get(f"{BASE}?limit={10**30}").status_code == 200  # capped, as elsewhere
    assert client.get(f"{BASE}/{10**30}").status_code == 404
    response = client_for(lead).post(
        "/api/v1/models/card-fraud/emergency-rollback",
        {"to_version": 10**30, "reason": "x"},
        format="json",
    )
    assert response.status_code == 400 and "to_version" in errors(response)


# --- found while probing the API: rules and triggers the services crashed on or let through -----
def test_numbers_too_large_for_a_float_are_refused_not_a_crash():
    from reviewapp.governance.rules import validate_rules
    from reviewapp.governance.services.common import validate_triggers

    assert "min_confidence" in validate_rules(proposal(min_confidence=10**400))
    trigger = {"metric": "override_rate", "op": ">", "bound": 10**400, "duration_minutes": 5}
    assert "rollback_triggers[0].bound" in validate_triggers([trigger])


def test_an_sla_past_a_year_is_refused_it_would_stop_routing():
    from reviewapp.governance.rules import validate_rules

    sla = {"critical": 10**30, "high": 60, "medium": 240, "low": 525600}
    assert set(validate_rules(proposal(sla_minutes=sla))) == {"sla_minutes.critical"}
