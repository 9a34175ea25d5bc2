"""The facts of an incident's recovery: what each of its models' recent traffic, business
profile and routing policy say, the candidate paths with their expected effect, and the
ranking by the pure ``scoring.rank``. Reads only."""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import clock
from reviewapp.governance import evidence
from reviewapp.governance.models import DocumentKind
from reviewapp.governance.services import documents
from reviewapp.models import Decision, MLModel, Prediction, PredictionPayload
from reviewapp.selectors.purposes import LABELS

from ...models import Incident, RecoveryDecision
from .. import scoring

FINAL = (Decision.Action.ACCEPT, Decision.Action.OVERRIDE)
LATENCY_SAMPLE = 2000
HANDLING_SAMPLE = 200
PATH_LABELS = {
    "policy_rollback": gettext_lazy("Roll back the routing policy"),
    "raise_threshold": gettext_lazy("Raise the confidence threshold"),
    "contain": gettext_lazy("Contain the model (review everything)"),
    "halt": gettext_lazy("Halt the model (serve the fallback)"),
    "producer_rollback": gettext_lazy("Roll back the model version at the producer"),
    "fix_forward": gettext_lazy("Fix forward"),
    "do_nothing": gettext_lazy("Do nothing"),
}


@dataclass(frozen=True)
class ModelRecovery:
    """One model's ranking with the facts it was computed from."""

    model: MLModel
    inputs: dict[str, Any]
    ranking: list[scoring.Scored]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.slug,
            "inputs": self.inputs,
            "candidates": [s.as_dict() for s in self.ranking],
        }


# --- facts ---------------------------------------------------------------------------------
def _override_rate(model: MLModel, since: dt.datetime, until: dt.datetime) -> tuple[float, int]:
    """(override share, decisions) of the model's final label decisions in the window."""
    rows = Decision.objects.filter(
        model=model, decided_at__gte=since, decided_at__lt=until, action__in=FINAL,
        undone_at__isnull=True, item__purpose__in=LABELS,
    )  # fmt: skip
    total = rows.count()
    if not total:
        return 0.0, 0
    return rows.filter(action=Decision.Action.OVERRIDE).count() / total, total


def _latency(model: MLModel, since: dt.datetime, until: dt.datetime) -> float | None:
    """The 95th percentile of signals.latency_ms of recent predictions (None: not sent)."""
    values = []
    for signals in (
        PredictionPayload.objects.filter(model=model, received_at__gte=since, received_at__lt=until)
        .order_by("-prediction_id")
        .values_list("signals", flat=True)[:LATENCY_SAMPLE]
    ):
        value = signals.get("latency_ms") if isinstance(signals, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            values.append(float(value))
    if not values:
        return None
    values.sort()
    return values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]


def _profile(model: MLModel) -> tuple[scoring.Profile, int | None]:
    active = documents.active_version(model_slug=model.slug, kind=DocumentKind.MODEL_SETTINGS)
    doc = active.document if active else {}
    return (
        scoring.Profile(
            cost_of_wrong_decision=float(doc.get("cost_of_wrong_decision", 0.0)),
            cost_per_hour_of_delay=float(doc.get("cost_per_hour_of_delay", 0.0)),
            regulatory_class=doc.get("regulatory_class", "none"),
            criticality=doc.get("criticality", model.criticality),
        ),
        active.version if active else None,
    )


def start_of(incident: Incident) -> dt.datetime:
    return incident.impact_started_at or incident.detected_at


def model_recovery(
    incident: Incident, model: MLModel, *, now: dt.datetime | None = None
) -> ModelRecovery:
    """The ranked candidates of one of the incident's models, with every input named."""
    now = now or clock.now()
    hours = settings.INCIDENT_SCORING_WINDOW_HOURS
    since = now - dt.timedelta(hours=hours)
    # Received in the window and routed (by the time received: routing follows within
    # seconds, and the (model, received_at) index reads just the window).
    routed = Prediction.objects.filter(
        model=model, received_at__gte=since, received_at__lt=now, routed_at__isnull=False
    )
    volume = routed.count()
    passed = routed.filter(routed=False).count()
    error_now, decisions = _override_rate(model, since, now)
    start = start_of(incident)
    baseline_since = start - dt.timedelta(days=settings.INCIDENT_BASELINE_DAYS)
    error_base, base_decisions = _override_rate(model, baseline_since, start)
    handling = evidence.handling_seconds(
        model_id=model.pk, since=since - dt.timedelta(days=7), until=now, sample=HANDLING_SAMPLE
    )
    handling_s = (
        statistics.median(handling) if handling else settings.INCIDENT_HANDLING_SECONDS_DEFAULT
    )
    latency_now = _latency(model, since, now)
    latency_base = _latency(model, baseline_since, start)
    profile, settings_version = _profile(model)
    policy = documents.active_version(model_slug=model.slug, kind=DocumentKind.ROUTING_POLICY)
    rules = policy.document if policy else None
    tolerated = (rules or {}).get("max_auto_error_rate")
    figures = scoring.Figures(
        volume_per_hour=volume / hours,
        auto_share=passed / volume if volume else 0.0,
        error_rate=error_now,
        handling_seconds=float(handling_s),
        reviewer_cost_per_hour=float(settings.INCIDENT_REVIEWER_COST_PER_HOUR),
        latency_ms=latency_now,
    )
    margins = scoring.Margins(
        tolerated_error_rate=float(
            tolerated if tolerated is not None else settings.INCIDENT_TOLERATED_ERROR_RATE
        ),
        latency_ceiling_ms=float(settings.INCIDENT_LATENCY_CEILING_MS),
    )
    candidates = build_candidates(
        model=model, figures=figures, rules=rules, active_version=policy.version if policy else None,
        error_base=error_base, latency_base=latency_base, since=since, until=now,
    )  # fmt: skip
    ranking = scoring.rank(
        candidates, profile=profile, figures=figures, margins=margins,
        weights=settings.INCIDENT_SCORING_WEIGHTS,
        horizon_hours=settings.INCIDENT_SCORING_HORIZON_HOURS,
    )  # fmt: skip
    inputs = {
        "window_hours": hours,
        "predictions": volume,
        "volume_per_hour": round(figures.volume_per_hour, 3),
        "auto_share": round(figures.auto_share, 4),
        "error_rate": round(error_now, 4),
        "decisions": decisions,
        "wrong_per_hour": round(figures.wrong_per_hour, 3),
        "baseline_error_rate": round(error_base, 4),
        "baseline_decisions": base_decisions,
        "handling_seconds": round(float(handling_s), 1),
        "handling_measured": bool(handling),
        "reviewer_cost_per_hour": figures.reviewer_cost_per_hour,
        "latency_ms": latency_now,
        "baseline_latency_ms": latency_base,
        "profile": {
            "cost_of_wrong_decision": profile.cost_of_wrong_decision,
            "cost_per_hour_of_delay": profile.cost_per_hour_of_delay,
            "regulatory_class": profile.regulatory_class,
            "criticality": profile.criticality,
            "settings_version": settings_version,
        },
        "revenue_at_risk_per_hour": round(
            figures.wrong_per_hour * profile.cost_of_wrong_decision, 2
        ),
        "tolerated_error_rate": margins.tolerated_error_rate,
        "tolerated_from_policy": tolerated is not None,
        "latency_ceiling_ms": margins.latency_ceiling_ms,
        "policy_version": policy.version if policy else None,
        "horizon_hours": settings.INCIDENT_SCORING_HORIZON_HOURS,
        "weights": scoring.weights_of(settings.INCIDENT_SCORING_WEIGHTS),
    }
    return ModelRecovery(model, inputs, ranking)


def raised_rules(rules: dict[str, Any], to: float) -> dict[str, Any]:
    """The active rules with the global threshold at ``to`` and each per-label threshold raised
    by as much (at most 1)."""
    raised = json.loads(json.dumps(rules))
    delta = to - float(rules.get("min_confidence", 0))
    raised["min_confidence"] = round(to, 4)
    by_label = raised.get("min_confidence_by_label") or {}
    for label, value in by_label.items():
        by_label[label] = round(min(1.0, float(value) + max(delta, 0)), 4)
    return raised


def build_candidates(
    *, model: MLModel, figures: scoring.Figures, rules: dict[str, Any] | None,
    active_version: int | None, error_base: float, latency_base: float | None,
    since: dt.datetime, until: dt.datetime,
) -> list[scoring.Candidate]:  # fmt: skip
    hours = settings.INCIDENT_RECOVERY_HOURS
    now_latency = figures.latency_ms
    base_latency = latency_base if latency_base is not None else now_latency
    out: list[scoring.Candidate] = []
    if active_version is not None:
        earlier = [
            v for v in documents.versions(model_slug=model.slug, kind=DocumentKind.ROUTING_POLICY)
            if v.version != active_version
        ][: settings.INCIDENT_ROLLBACK_CANDIDATES]  # fmt: skip
        for v in earlier:
            out.append(scoring.Candidate(
                path="policy_rollback", label=_("Roll back the routing policy to v%d") % v.version,
                params={"to_version": v.version}, error_rate_after=error_base,
                hours_to_recover=hours["policy_rollback"], latency_ms_after=now_latency,
            ))  # fmt: skip
    if rules is not None:
        current = float(rules.get("min_confidence", 0))
        to = round(min(0.99, current + settings.INCIDENT_THRESHOLD_STEP), 4)
        if to > current:
            # The share of the window's overrides whose confidence is below the new threshold
            # would have been reviewed: the error rate after falls by that share; the passed
            # predictions below it are the extra review volume.
            overrides = Decision.objects.filter(
                model=model, decided_at__gte=since, decided_at__lt=until,
                action=Decision.Action.OVERRIDE, undone_at__isnull=True,
            )  # fmt: skip
            n = overrides.count()
            caught = overrides.filter(model_confidence__lt=to).count() / n if n else 0.0
            moved = Prediction.objects.filter(
                model=model, received_at__gte=since, received_at__lt=until,
                routed_at__isnull=False, routed=False, confidence__lt=to,
            ).count()  # fmt: skip
            window = max((until - since).total_seconds() / 3600, 1e-9)
            out.append(scoring.Candidate(
                path="raise_threshold",
                label=_("Raise the threshold from %(a).2f to %(b).2f") % {"a": current, "b": to},
                params={"min_confidence": to}, error_rate_after=figures.error_rate * (1 - caught),
                hours_to_recover=hours["raise_threshold"], extra_review_per_hour=moved / window,
                latency_ms_after=now_latency,
            ))  # fmt: skip
    out += [
        scoring.Candidate(
            path="contain", label=str(PATH_LABELS["contain"]), error_rate_after=0.0,
            hours_to_recover=hours["contain"], extra_review_per_hour=figures.auto_per_hour,
            delayed_share=figures.auto_share, latency_ms_after=now_latency,
        ),
        scoring.Candidate(
            path="halt", label=str(PATH_LABELS["halt"]), error_rate_after=0.0,
            hours_to_recover=hours["halt"],
            extra_review_per_hour=min(
                figures.auto_per_hour,
                figures.volume_per_hour * settings.FAILSAFE_HALTED_SAMPLE_RATE,
            ),
            delayed_share=1.0, latency_ms_after=None,
        ),
        scoring.Candidate(
            path="producer_rollback", label=str(PATH_LABELS["producer_rollback"]),
            error_rate_after=error_base, hours_to_recover=hours["producer_rollback"],
            latency_ms_after=base_latency,
        ),
        scoring.Candidate(
            path="fix_forward", label=str(PATH_LABELS["fix_forward"]), error_rate_after=error_base,
            hours_to_recover=hours["fix_forward"], latency_ms_after=base_latency,
        ),
        scoring.Candidate(
            path="do_nothing", label=str(PATH_LABELS["do_nothing"]),
            error_rate_after=figures.error_rate, hours_to_recover=0.0,
            latency_ms_after=now_latency,
        ),
    ]  # fmt: skip
    return out


def incident_models(incident: Incident) -> list[MLModel]:
    return [
        link.model for link in incident.model_links.select_related("model").order_by("model__slug")
    ]


def incident_recovery(incident: Incident) -> list[ModelRecovery]:
    now = clock.now()
    return [model_recovery(incident, m, now=now) for m in incident_models(incident)]


def decisions_of(incident: Incident) -> list[RecoveryDecision]:
    return list(incident.decisions.select_related("authorised_by").order_by("-decided_at", "-id"))
