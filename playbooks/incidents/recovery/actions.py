"""The recovery use cases: simulate a policy path (governance's impact replay, kept in the
Django cache) and choose a path, which acts only through governance's change requests and
emergency rollback or the fail-safe switch."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import unstorable
from reviewapp.core.roles import LEAD, has_role
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.governance import evidence
from reviewapp.governance.models import DocumentKind
from reviewapp.governance.services import documents
from reviewapp.governance.services.change_requests import change_request_create
from reviewapp.governance.services.rollback import (
    change_request_rollback_draft,
    emergency_rollback,
)
from reviewapp.models import MLModel

from ...models import Incident, RecoveryDecision
from .. import scoring
from ..selectors import OPEN_STATUSES, may_run
from ..services import record
from .facts import ModelRecovery, incident_models, model_recovery, raised_rules, start_of

MAX_REASON = 5000


# --- inputs --------------------------------------------------------------------------------
def _model_of(incident: Incident, slug: Any) -> MLModel:
    models = incident_models(incident)
    if slug in (None, ""):
        if not models:
            raise NotFound(_("This incident names no model."), field="model")
        return models[0]
    for m in models:
        if m.slug == slug:
            return m
    raise ServiceError(
        _("Not one of this incident's models."),
        errors={"model": [_("Must be one of %s.") % ", ".join(m.slug for m in models)]},
    )


def _candidate(recovery: ModelRecovery, path: Any, params: Any) -> scoring.Scored:
    """The ranked candidate ``path`` with ``params`` (400 naming the field if none)."""
    if path not in scoring.PATHS:
        raise ServiceError(
            _("Unknown recovery path."),
            errors={"path": [_("Must be one of %s.") % ", ".join(scoring.PATHS)]},
        )
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ServiceError(_("Must be an object."), errors={"params": [_("Must be an object.")]})
    matching = [s for s in recovery.ranking if s.candidate.path == path]
    if path == "policy_rollback":
        to = params.get("to_version")
        matching = [s for s in matching if s.candidate.params.get("to_version") == to]
        if not matching or isinstance(to, bool):
            raise ServiceError(
                _("No earlier policy version to roll back to with this number."),
                errors={"params.to_version": [_("Must be an earlier version of the policy.")]},
            )
    elif not matching:
        raise ServiceError(
            _("This path is not open for this model (no active policy)."),
            errors={"path": [_("Not a candidate for this model.")]},
        )
    return matching[0]


def _cache_key(incident: Incident, recovery: ModelRecovery, scored: scoring.Scored) -> str:
    params = json.dumps(dict(scored.candidate.params), sort_keys=True)
    digest = hashlib.sha256(params.encode()).hexdigest()[:16]
    return (
        f"incidents:recovery-sim:{incident.pk}:{recovery.model.slug}:{scored.candidate.path}:"
        f"{digest}:v{recovery.inputs['policy_version']}"
    )


def cached_simulation(
    incident: Incident, recovery: ModelRecovery, scored: scoring.Scored
) -> dict[str, Any] | None:
    if scored.candidate.path not in scoring.POLICY_PATHS:
        return None
    return cache.get(_cache_key(incident, recovery, scored))


def _proposed_rules(model: MLModel, scored: scoring.Scored) -> dict[str, Any]:
    c = scored.candidate
    if c.path == "policy_rollback":
        version = documents.version_of(
            model_slug=model.slug, kind=DocumentKind.ROUTING_POLICY, version=c.params["to_version"]
        )
        if version is None:
            raise NotFound(_("No such policy version."), field="params.to_version")
        return version.document
    active = documents.active_version(model_slug=model.slug, kind=DocumentKind.ROUTING_POLICY)
    if active is None:
        raise Conflict(_("The model has no active policy."), field="path")
    return raised_rules(active.document, c.params["min_confidence"])


# --- use cases -----------------------------------------------------------------------------
def recovery_simulate(
    *, incident: Incident, actor: Any, path: Any, params: Any = None, model_slug: Any = None
) -> dict[str, Any]:
    """Replay the incident's window under a policy path's rules (governance's impact replay)
    and keep the figures in the cache. Returns them."""
    if not may_run(actor, incident):
        raise PermissionDenied(_("Only engineers, leads and this incident's commander run it."))
    model = _model_of(incident, model_slug)
    recovery = model_recovery(incident, model)
    scored = _candidate(recovery, path, params)
    if scored.candidate.path not in scoring.POLICY_PATHS:
        raise ServiceError(
            _("Only a policy path is simulated."),
            errors={"path": [_("Only %s are simulated.") % ", ".join(scoring.POLICY_PATHS)]},
        )
    until = incident.contained_at or clock.now()
    span = until - (start_of(incident) - dt.timedelta(hours=1))
    days = max(
        1, min(settings.GOVERNANCE_EVIDENCE_WINDOW_DAYS, math.ceil(span / dt.timedelta(days=1)))
    )
    ev = evidence.evidence_compute(
        model_slug=model.slug, proposed_rules=_proposed_rules(model, scored), until=until,
        window_days=days, max_predictions=settings.INCIDENT_SIMULATION_MAX_PREDICTIONS,
    )  # fmt: skip
    impact = ev.summary["impact"]
    figures = {
        "path": scored.candidate.path,
        "params": dict(scored.candidate.params),
        "model": model.slug,
        "window": {"start": ev.window_start.isoformat(), "end": ev.window_end.isoformat()},
        "predictions": ev.summary["traffic"]["predictions"],
        "queue_volume": {
            "active": impact["totals"]["active"],
            "proposal": impact["totals"]["proposal"],
            "change": impact["totals"]["change"],
        },
        "reviewer_hours_change": impact["totals"]["reviewer_hours_change"],
        "escaping_errors": impact["escaping_errors"]["count"],
        "escaping_errors_active": impact["escaping_errors"]["active_count"],
        "evidence_hash": ev.hash,
        "simulated_at": clock.now().isoformat(),
    }
    cache.set(
        _cache_key(incident, recovery, scored), figures, settings.INCIDENT_SIMULATION_TTL_SECONDS
    )
    with transaction.atomic():
        record(
            incident, "playbooks.incident.recovery_simulated", actor,
            data={k: figures[k] for k in ("path", "params", "model", "queue_volume",
                                          "reviewer_hours_change", "escaping_errors")},
        )  # fmt: skip
    return figures


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ServiceError(_("Say why."), errors={"reason": [_("Required.")]})
    if unstorable(reason):
        message = _("Contains a NUL character or a broken surrogate.")
        raise ServiceError(message, errors={"reason": [message]})
    if len(reason) > MAX_REASON:
        message = _("At most %d characters.") % MAX_REASON
        raise ServiceError(message, errors={"reason": [message]})
    return reason.strip()


@transaction.atomic
def recovery_choose(
    *, incident: Incident, actor: Any, path: Any, params: Any = None, reason: Any = "",
    model_slug: Any = None, emergency: bool = False,
) -> RecoveryDecision:  # fmt: skip
    """Record the chosen path with the ranking and simulation it was chosen on, and set it in
    motion through the existing mechanism (see the module's docstring). ``emergency`` (leads
    only, a policy rollback to the previously active version): governance's emergency
    rollback, applied at once and audited there."""
    if not may_run(actor, incident):
        raise PermissionDenied(_("Only engineers, leads and this incident's commander run it."))
    row = Incident.objects.select_for_update().filter(pk=incident.pk).first()
    if row is None:
        raise NotFound(_("No such incident."))
    if row.status not in OPEN_STATUSES:
        raise Conflict(_("This incident is %s: no recovery to choose.") % row.status, field="path")
    reason = _reason(reason)
    model = _model_of(row, model_slug)
    recovery = model_recovery(row, model)
    scored = _candidate(recovery, path, params)
    c = scored.candidate
    if emergency and c.path != "policy_rollback":
        raise ServiceError(
            _("Only a policy rollback is done as an emergency."),
            errors={"emergency": [_("Only for a policy rollback.")]},
        )
    if emergency and not has_role(actor, LEAD):
        raise PermissionDenied(_("Only leads roll back in an emergency."))
    simulation = cached_simulation(row, recovery, scored) or {}
    rationale = _("%(ref)s (%(title)s): %(reason)s") % {
        "ref": row.reference, "title": row.title, "reason": reason,
    }  # fmt: skip
    outcome: dict[str, Any] = {"kind": "recorded"}
    subjects: dict[str, list[Any]] = {"reviewapp.mlmodel": [model.pk]}
    if c.path == "policy_rollback" and emergency:
        cr = emergency_rollback(
            model_slug=model.slug, to_version=c.params["to_version"], reason=rationale, user=actor
        )
        outcome = _cr_outcome(cr, "emergency_rollback")
    elif c.path == "policy_rollback":
        cr = change_request_rollback_draft(
            model_slug=model.slug,
            to_version=c.params["to_version"],
            user=actor,
            rationale=rationale,
        )
        outcome = _cr_outcome(cr, "change_request")
    elif c.path == "raise_threshold":
        cr = change_request_create(
            model_slug=model.slug, user=actor, document=_proposed_rules(model, scored),
            rationale=rationale,
        )  # fmt: skip
        outcome = _cr_outcome(cr, "change_request")
    elif c.path in ("contain", "halt"):
        change = mode_change(model=model, mode=_mode(c.path), reason=rationale, user=actor)
        outcome = {
            "kind": "mode_change", "mode_change": change.pk, "mode": change.to_mode,
            "url": reverse("failsafe:model", args=[model.slug]),
        }  # fmt: skip
        subjects["failsafe.modechange"] = [change.pk]
    if "change_request" in outcome:
        subjects["governance.changerequest"] = [outcome["change_request"]]
    decision = RecoveryDecision.objects.create(
        incident=row, path=c.path, params={**dict(c.params), "model": model.slug},
        scores={"chosen": scored.as_dict(), **recovery.as_dict()}, simulation=simulation,
        reason=reason, outcome=outcome, authorised_by=actor, decided_at=clock.now(),
    )  # fmt: skip
    record(
        row, "playbooks.incident.recovery_chosen", actor, target=decision,
        after={"path": c.path, "params": decision.params, "outcome": outcome},
        data={"rank": scored.rank, "score": scored.score, "safe": scored.safe,
              "reason": reason, "simulated": bool(simulation)},
        subjects=subjects,
    )  # fmt: skip
    return decision


def _mode(path: str) -> str:
    return {"contain": "contained", "halt": "halted"}[path]


def _cr_outcome(cr: Any, kind: str) -> dict[str, Any]:
    return {
        "kind": kind, "change_request": cr.pk, "status": cr.status,
        "url": reverse("governance:request", args=[cr.pk]),
    }  # fmt: skip
