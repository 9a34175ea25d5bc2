"""Service accounts: hashed tokens, shown once, limited to models, rotatable and revocable."""

from __future__ import annotations

import hashlib

import pytest
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, NotFound, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.models import ServiceAccount
from reviewapp.services.accounts import (
    allowed_model_ids,
    service_account_create,
    service_account_for_token,
    service_token_revoke,
    service_token_rotate,
)
from tests.factories import MLModelFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


@pytest.fixture
def models(db):
    return (
        MLModelFactory(slug="card-fraud", labels=["fraud", "legit"]),
        MLModelFactory(slug="support-triage", labels=["billing", "other"]),
    )


def models_status(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/models").status_code


def test_the_token_is_stored_only_as_a_hash(models):
    issued = service_account_create(name="producer", model_slugs=None, actor=ACTOR)
    account = ServiceAccount.objects.get(name="producer")
    assert issued.token.startswith(f"fs_{account.token_prefix}_")
    assert len(issued.token) > 40
    assert account.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    stored = [str(v) for v in ServiceAccount.objects.values_list(flat=False).get()]
    assert all(issued.token not in value for value in stored)
    assert service_account_for_token(issued.token) == account


def test_two_accounts_get_different_tokens(models):
    a = service_account_create(name="a", model_slugs=None, actor=ACTOR).token
    b = service_account_create(name="b", model_slugs=None, actor=ACTOR).token
    assert a != b
    assert service_account_for_token(a).name == "a"
    assert service_account_for_token(b).name == "b"


def test_an_account_limited_to_models(models):
    fraud, tickets = models
    issued = service_account_create(name="limited", model_slugs=["support-triage"], actor=ACTOR)
    assert not issued.account.all_models
    assert allowed_model_ids(issued.account) == {tickets.pk}


def test_an_account_without_models_may_use_every_model(models):
    issued = service_account_create(name="all", model_slugs=None, actor=ACTOR)
    assert issued.account.all_models
    assert allowed_model_ids(issued.account) is None


def test_unknown_models_are_refused(models):
    with pytest.raises(ServiceError) as caught:
        service_account_create(name="x", model_slugs=["card-fraud", "ghost"], actor=ACTOR)
    assert "ghost" in caught.value.errors["models"][0]
    assert not ServiceAccount.objects.exists()


def test_names_are_unique(models):
    service_account_create(name="producer", model_slugs=None, actor=ACTOR)
    with pytest.raises(Conflict) as caught:
        service_account_create(name="producer", model_slugs=None, actor=ACTOR)
    assert caught.value.status == 409


@pytest.mark.parametrize("name", ["", "has space", "a" * 101, "nul\x00", "ünïcode", "a/b"])
def test_names_must_be_slugs(models, name):
    with pytest.raises(ServiceError) as caught:
        service_account_create(name=name, model_slugs=None, actor=ACTOR)
    assert "name" in caught.value.errors
    assert not ServiceAccount.objects.exists()


def test_rotating_issues_a_new_token_and_the_old_one_stops_working(models):
    old = service_account_create(name="producer", model_slugs=None, actor=ACTOR).token
    new = service_token_rotate(name="producer", actor=ACTOR).token
    assert new != old
    assert service_account_for_token(old) is None
    assert service_account_for_token(new).name == "producer"
    assert models_status(old) == 401
    assert models_status(new) == 200
    assert ServiceAccount.objects.get().rotated_at is not None


def test_revoking_stops_the_token_and_rotating_afterwards_issues_a_working_one(models):
    token = service_account_create(name="producer", model_slugs=None, actor=ACTOR).token
    service_token_revoke(name="producer", actor=ACTOR)
    assert service_account_for_token(token) is None
    assert models_status(token) == 401
    assert not ServiceAccount.objects.get().is_active
    fresh = service_token_rotate(name="producer", actor=ACTOR).token
    assert models_status(fresh) == 200
    assert models_status(token) == 401


def test_revoking_twice_is_harmless_and_audited_once(models):
    service_account_create(name="producer", model_slugs=None, actor=ACTOR)
    first = service_token_revoke(name="producer", actor=ACTOR).revoked_at
    second = service_token_revoke(name="producer", actor=ACTOR).revoked_at
    assert first == second
    assert AuditEvent.objects.filter(verb="queue.service_account.token_revoked").count() == 1


@pytest.mark.parametrize("action", [service_token_rotate, service_token_revoke])
def test_unknown_names_are_not_found(models, action):
    with pytest.raises(NotFound):
        action(name="ghost", actor=ACTOR)


def test_account_actions_are_audited_without_the_token(models):
    token = service_account_create(name="producer", model_slugs=["card-fraud"], actor=ACTOR).token
    service_token_rotate(name="producer", actor=ACTOR)
    service_token_revoke(name="producer", actor=ACTOR)
    events = list(AuditEvent.objects.filter(target_type="reviewapp.serviceaccount"))
    assert [e.verb for e in events] == [
        "queue.service_account.created",
        "queue.service_account.token_rotated",
        "queue.service_account.token_revoked",
    ]
    assert events[0].after == {"name": "producer", "models": ["card-fraud"], "all_models": False}
    assert all(token not in str((e.before, e.after, e.data)) for e in events)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "fs",
        "fs_",
        "fs__",
        "xx_0123456789ab_rest",
        "fs_0123456789ab_rest",
        "fs_NOT-HEX-0000_rest",
        "fs_\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00_rest",
        "fs_" + "a" * 500,
    ],
)
def test_malformed_tokens_find_no_account(models, token):
    service_account_create(name="producer", model_slugs=None, actor=ACTOR)
    assert service_account_for_token(token) is None


def test_a_right_prefix_with_a_wrong_secret_finds_no_account(models):
    token = service_account_create(name="producer", model_slugs=None, actor=ACTOR).token
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert service_account_for_token(forged) is None
    assert models_status(forged) == 401
