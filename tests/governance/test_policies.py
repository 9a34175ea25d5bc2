"""Policy versions: immutable, hashed, versioned per model, at most one active."""

from __future__ import annotations

import hashlib

import pytest
from django.db import IntegrityError, transaction

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.governance.models import PolicyVersion
from reviewapp.governance.rules import canonical_json, rules_hash
from reviewapp.governance.selectors import active_policies, policy_versions_for
from reviewapp.governance.services import policy_version_activate, policy_version_create
from tests.factories import DEFAULT_RULES

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def create(slug: str = "card-fraud", rules: dict | None = None, **kwargs) -> PolicyVersion:
    return policy_version_create(
        model_slug=slug, rules=rules or DEFAULT_RULES, actor=ACTOR, **kwargs
    )


def test_a_version_stores_the_sha256_of_its_canonical_rules():
    policy = create()
    expected = hashlib.sha256(canonical_json(DEFAULT_RULES).encode()).hexdigest()
    assert policy.rules_hash == expected
    assert policy.short_hash == expected[:8]
    # The hash still matches the rules as the database gives them back (jsonb reorders keys).
    reloaded = PolicyVersion.objects.get(pk=policy.pk)
    assert rules_hash(reloaded.rules) == reloaded.rules_hash == expected


def test_versions_count_up_per_model():
    assert [create().version for _ in range(3)] == [1, 2, 3]
    assert create("support-triage", {**DEFAULT_RULES, "min_confidence_by_label": {}}).version == 1


def test_a_version_cannot_be_edited():
    policy = create()
    policy.rules = {**DEFAULT_RULES, "min_confidence": 0.1}
    with pytest.raises(RuntimeError, match="immutable"):
        policy.save()
    with pytest.raises(RuntimeError, match="immutable"):
        policy.save(update_fields=["rules"])
    with pytest.raises(RuntimeError, match="immutable"):
        policy.save(update_fields=["note", "is_active"])
    with pytest.raises(RuntimeError, match="immutable"):
        PolicyVersion.objects.filter(pk=policy.pk).update(rules={})
    stored = PolicyVersion.objects.get(pk=policy.pk)
    assert stored.rules == DEFAULT_RULES
    assert stored.rules_hash == rules_hash(DEFAULT_RULES)


def test_a_version_cannot_be_deleted():
    policy = create()
    with pytest.raises(RuntimeError, match="kept forever"):
        policy.delete()
    with pytest.raises(RuntimeError, match="kept forever"):
        PolicyVersion.objects.filter(pk=policy.pk).delete()
    with pytest.raises(RuntimeError, match="kept forever"):
        PolicyVersion.objects.all().delete()
    assert PolicyVersion.objects.filter(pk=policy.pk).exists()


def test_activation_fields_may_still_change():
    policy = create()
    assert PolicyVersion.objects.filter(pk=policy.pk).update(is_active=False) == 1


def test_activating_a_version_deactivates_the_previous_one():
    first = create(activate=True)
    second = create()
    assert not second.is_active
    assert active_policies(["card-fraud"])["card-fraud"].pk == first.pk

    policy_version_activate(policy=second, actor=ACTOR)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_active, second.is_active) == (False, True)
    assert first.deactivated_at is not None
    assert second.activated_at is not None
    assert active_policies(["card-fraud"])["card-fraud"].pk == second.pk
    assert PolicyVersion.objects.filter(model_slug="card-fraud", is_active=True).count() == 1


def test_activating_the_active_version_again_changes_nothing():
    policy = create(activate=True)
    events = AuditEvent.objects.count()
    policy_version_activate(policy=policy, actor=ACTOR)
    assert AuditEvent.objects.count() == events


def test_rollback_to_an_earlier_version_is_an_activation():
    first = create(activate=True)
    create(activate=True)
    policy_version_activate(policy=first, actor=ACTOR)
    assert active_policies(["card-fraud"])["card-fraud"].version == 1


def test_the_database_allows_one_active_version_per_model():
    create(activate=True)
    second = create()
    second.is_active = True
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save(update_fields=["is_active"])
    # Another model's active version is no conflict.
    create("support-triage", {**DEFAULT_RULES, "min_confidence_by_label": {}}, activate=True)
    assert set(active_policies(["card-fraud", "support-triage", "nope"])) == {
        "card-fraud",
        "support-triage",
    }


def test_invalid_rules_are_refused_with_paths_and_nothing_is_written():
    events = AuditEvent.objects.count()
    bad = {**DEFAULT_RULES, "min_confidence": 3, "sla_minutes": {}}
    with pytest.raises(ServiceError) as caught:
        create(rules=bad)
    assert caught.value.status == 400
    assert "rules.min_confidence" in caught.value.errors
    assert "rules.sla_minutes.low" in caught.value.errors
    assert not PolicyVersion.objects.exists()
    assert AuditEvent.objects.count() == events


def test_per_label_thresholds_must_name_the_models_labels():
    with pytest.raises(ServiceError) as caught:
        create(labels=["billing", "other"])  # DEFAULT_RULES has a threshold for "fraud"
    assert "rules.min_confidence_by_label.fraud" in caught.value.errors


def test_creating_and_activating_are_audited():
    policy = create(activate=True, note="first cut")
    created = AuditEvent.objects.get(verb="governance.policy_version.created")
    assert created.target_type == "governance.policyversion"
    assert created.target_id == str(policy.pk)
    assert created.after["rules_hash"] == policy.rules_hash
    assert created.after["rules"] == DEFAULT_RULES
    assert created.data == {"model": "card-fraud", "note": "first cut"}
    activated = AuditEvent.objects.get(verb="governance.policy_version.activated")
    assert activated.before == {"active_version": None}
    assert activated.after == {"active_version": 1, "rules_hash": policy.rules_hash}
    assert (created.actor_type, created.actor_label) == ("system", "tests")


def test_versions_for_a_model_newest_first():
    for _ in range(3):
        create()
    assert [p.version for p in policy_versions_for("card-fraud")] == [3, 2, 1]
