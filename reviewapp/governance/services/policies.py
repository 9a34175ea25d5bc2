from __future__ import annotations

from typing import Any

from django.db import transaction

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import ServiceError

from ..models import DocumentKind, PolicyVersion
from ..rules import validate_rules
from .common import next_version_number, version_make_active
from .staleness import document_moved


@transaction.atomic
def policy_version_create(
    *,
    model_slug: str,
    rules: dict[str, Any],
    actor: Actor,
    labels: list[str] | None = None,
    note: str = "",
    activate: bool = False,
    created_by: Any = None,
    change_request: Any = None,
) -> PolicyVersion:
    """A new immutable version. Outside tests and the change-request service, versions are made
    by applying a change request (services/change_requests.py), never activated directly."""
    errors = validate_rules(rules, labels=labels)
    if errors:
        raise ServiceError(
            "The rules are not valid.", errors={f"rules.{k}": v for k, v in errors.items()}
        )
    policy = PolicyVersion(
        model_slug=model_slug,
        version=next_version_number(PolicyVersion.objects.filter(model_slug=model_slug)),
        rules=rules,
        note=note,
        created_by=created_by,
        change_request=change_request,
    )
    policy.save(force_insert=True)
    audit_record(
        actor=actor,
        verb="governance.policy_version.created",
        target=policy,
        after={"version": policy.version, "rules_hash": policy.rules_hash, "rules": rules},
        data={
            "model": model_slug,
            "note": note,
            **({"change_request": change_request.pk} if change_request is not None else {}),
        },
    )
    if activate:
        policy_version_activate(policy=policy, actor=actor)
    return policy


@transaction.atomic
def policy_version_activate(*, policy: PolicyVersion, actor: Actor) -> PolicyVersion:
    current = version_make_active(
        policy, PolicyVersion.objects.filter(model_slug=policy.model_slug), clock.now()
    )
    if current is not None and current.pk == policy.pk:  # already the active one
        return policy
    audit_record(
        actor=actor,
        verb="governance.policy_version.activated",
        target=policy,
        before={"active_version": current.version if current else None},
        after={"active_version": policy.version, "rules_hash": policy.rules_hash},
        data={"model": policy.model_slug},
    )
    document_moved(
        model_slug=policy.model_slug,
        kind=DocumentKind.ROUTING_POLICY,
        version=policy.version,
        actor=actor,
    )
    return policy
