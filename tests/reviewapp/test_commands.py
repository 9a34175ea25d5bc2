"""Management commands: service accounts, policy versions, demo data, audit seal/verify."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings
from rest_framework.test import APIClient

from reviewapp.core import roles
from reviewapp.governance.models import ChangeRequest, DocumentVersion, PolicyVersion
from reviewapp.governance.rules import rules_hash
from reviewapp.models import MLModel, Prediction, ServiceAccount
from reviewapp.services.accounts import service_account_for_token
from tests.factories import DEFAULT_RULES, MLModelFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def token_in(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("fs_"))


def status_with(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/models").status_code


@pytest.fixture
def two_models(db):
    return (
        MLModelFactory(slug="card-fraud", labels=["fraud", "legit"]),
        MLModelFactory(slug="support-triage", labels=["billing", "other"]),
    )


# --- create / rotate / revoke -------------------------------------------------------------
def test_create_service_account_limited_to_models(two_models):
    out, err = run("create_service_account", "tickets", "--models", "support-triage")
    token = token_in(out)
    assert err == ""
    account = service_account_for_token(token)
    assert account.name == "tickets"
    assert not account.all_models
    assert [m.slug for m in account.allowed_models.all()] == ["support-triage"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert [m["slug"] for m in client.get("/api/v1/models").json()] == ["support-triage"]


def test_create_service_account_without_models_warns_and_allows_all(two_models):
    out, err = run("create_service_account", "everything")
    assert "every model" in err
    assert service_account_for_token(token_in(out)).all_models


def test_create_service_account_errors_are_clear(two_models):
    with pytest.raises(CommandError, match="ghost"):
        run("create_service_account", "x", "--models", "card-fraud,ghost")
    run("create_service_account", "taken")
    with pytest.raises(CommandError, match="already exists"):
        run("create_service_account", "taken")
    with pytest.raises(CommandError, match="letters, digits"):
        run("create_service_account", "has space")


def test_rotate_service_token(two_models):
    old = token_in(run("create_service_account", "producer")[0])
    new = token_in(run("rotate_service_token", "producer")[0])
    assert new != old
    assert status_with(old) == 401
    assert status_with(new) == 200


def test_revoke_service_token(two_models):
    token = token_in(run("create_service_account", "producer")[0])
    out, _ = run("revoke_service_token", "producer")
    assert "revoked" in out
    assert status_with(token) == 401


@pytest.mark.parametrize("command", ["rotate_service_token", "revoke_service_token"])
def test_rotate_and_revoke_name_an_unknown_account(db, command):
    with pytest.raises(CommandError, match="ghost"):
        run(command, "ghost")


# --- create_policy_version ----------------------------------------------------------------
@pytest.fixture
def sam(db):
    return UserFactory(username="sam", roles=["engineer"])


def test_create_policy_version_bootstraps_a_models_first_policy(two_models):
    out, _ = run(
        "create_policy_version", "card-fraud", json.dumps(DEFAULT_RULES), "--bootstrap",
        "--rationale", "First policy.",
    )  # fmt: skip
    policy = PolicyVersion.objects.get(model_slug="card-fraud")
    assert policy.is_active and policy.version == 1
    assert policy.rules_hash == rules_hash(DEFAULT_RULES)
    assert policy.change_request.base_version is None and policy.change_request.proposer is None
    assert policy.rules_hash in out and "active" in out
    with pytest.raises(CommandError, match="already has a version"):
        run("create_policy_version", "card-fraud", json.dumps(DEFAULT_RULES), "--bootstrap",
            "--rationale", "Again.")  # fmt: skip


def test_create_policy_version_drafts_a_change_request_from_a_file(two_models, sam, tmp_path):
    run("create_policy_version", "card-fraud", json.dumps(DEFAULT_RULES), "--bootstrap",
        "--note", "First.")  # fmt: skip
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({**DEFAULT_RULES, "min_confidence": 0.75}, indent=2))
    out, _ = run(
        "create_policy_version", "card-fraud", str(path), "--note", "from a file",
        "--user", "sam", "--submit",
    )  # fmt: skip
    cr = ChangeRequest.objects.get(proposer=sam)
    assert cr.status == "in_review" and cr.base_version == 1 and cr.rationale == "from a file"
    assert PolicyVersion.objects.get(is_active=True).version == 1  # nothing activated
    assert f"#{cr.pk}" in out and "not active" in out


def test_create_policy_version_refuses_activate(two_models, sam):
    with pytest.raises(CommandError, match="change request"):
        run("create_policy_version", "card-fraud", json.dumps(DEFAULT_RULES), "--activate",
            "--user", "sam", "--note", "x")  # fmt: skip
    assert not PolicyVersion.objects.exists()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ('{"min_confidence": 0.5,', "not valid JSON"),
        ("{nope}", "not valid JSON"),
        ('{"min_confidence": NaN}', "min_confidence"),
        (json.dumps({**DEFAULT_RULES, "min_confidence": 2}), "min_confidence"),
        (json.dumps({**DEFAULT_RULES, "sla_minutes": {}}), "sla_minutes.critical"),
        (json.dumps({**DEFAULT_RULES, "min_confidence_by_label": {"x": 0.5}}), "labels"),
        ("[1, 2]", "rules"),
        ("/no/such/rules.json", "no/such/rules.json"),
    ],
)
def test_create_policy_version_refuses_bad_rules_clearly(two_models, sam, rules, message):
    with pytest.raises(CommandError, match=message):
        run("create_policy_version", "card-fraud", rules, "--user", "sam", "--note", "x")
    assert not PolicyVersion.objects.exists() and not ChangeRequest.objects.exists()


def test_create_policy_version_needs_a_rationale_and_a_proposer(two_models, sam):
    with pytest.raises(CommandError, match="rationale"):
        run("create_policy_version", "card-fraud", json.dumps(DEFAULT_RULES), "--user", "sam")
    with pytest.raises(CommandError, match="--user"):
        run("create_policy_version", "card-fraud", json.dumps(DEFAULT_RULES), "--note", "x")


def test_create_policy_version_for_an_unknown_model(two_models, sam):
    with pytest.raises(CommandError, match="ghost"):
        run("create_policy_version", "ghost", json.dumps(DEFAULT_RULES), "--user", "sam",
            "--note", "x")  # fmt: skip
    assert not PolicyVersion.objects.exists()


# --- seed_demo ----------------------------------------------------------------------------
def test_seed_demo_registers_models_policies_users_and_writes_credentials(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        out, _ = run("seed_demo", "--predictions", "30", "--days", "0")

    assert MLModel.objects.count() == 3
    assert {m.criticality for m in MLModel.objects.all()} >= {"critical", "high", "medium"}
    for model in MLModel.objects.all():
        active = PolicyVersion.objects.get(model_slug=model.slug, is_active=True)
        assert active.rules_hash == rules_hash(active.rules)
        # applied by bootstrap change requests (no base), with the model's settings beside it
        assert active.change_request.base_version is None
        settings_doc = DocumentVersion.objects.get(
            model_slug=model.slug, kind="model_settings", is_active=True
        )
        assert settings_doc.document["criticality"] == model.criticality
    assert Prediction.objects.count() == 30
    # The committee's home has a request to vote on: sam's proposal, in review.
    from reviewapp.governance.models import ChangeRequest

    [waiting] = ChangeRequest.objects.filter(status="in_review")
    assert (waiting.model_slug, waiting.proposer.username) == ("card-fraud", "sam")
    assert waiting.document["min_confidence"] == 0.75 and waiting.rollback_triggers

    User = get_user_model()
    for role in roles.ROLES:
        assert User.objects.filter(groups__name=role).exists(), role
    assert User.objects.filter(groups__name=roles.COMMITTEE).count() == 3
    demo_user = User.objects.get(username="ana")
    assert demo_user.check_password("failsafe-demo")
    assert User.objects.get(username="admin").is_superuser

    credentials = (tmp_path / "demo-credentials.txt").read_text()
    token = token_in("\n".join(line.strip() for line in credentials.splitlines()))
    assert status_with(token) == 200
    assert "failsafe-demo" in credentials and "lee" in credentials
    assert (tmp_path / "demo-credentials.txt").stat().st_mode & 0o077 == 0
    assert token in out


def test_seed_demo_twice_adds_no_models_and_rotates_the_demo_token(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        run("seed_demo", "--predictions", "5", "--days", "0")
        first = (tmp_path / "demo-credentials.txt").read_text()
        out, _ = run("seed_demo", "--if-empty")
        assert "already" in out
        run("seed_demo", "--predictions", "5", "--days", "0")
        second = (tmp_path / "demo-credentials.txt").read_text()
    assert MLModel.objects.count() == 3
    assert PolicyVersion.objects.count() == 3
    assert ServiceAccount.objects.count() == 1
    assert first != second
