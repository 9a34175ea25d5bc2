"""The incident page's "Recovery" section (the ranked paths, their simulation, the decisions
made) and its two forms: simulate a policy path, choose a path. Thin: each view checks the
role, calls one service of ``recovery``, and goes back to the section."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from reviewapp.core.exceptions import ServiceError
from reviewapp.core.roles import LEAD, has_role

from ..models import Incident
from . import recovery, scoring
from .page import Section
from .selectors import OPEN_STATUSES
from .views import back_to, incident_or_404, require_runner

KEY = "recovery"


def sections() -> list[Section]:
    return [Section(KEY, _("Recovery"), "playbooks/incidents/_recovery.html", recovery_context)]


def recovery_context(request: HttpRequest, incident: Incident, can_run: bool) -> dict[str, Any]:
    models = []
    for found in recovery.incident_recovery(incident):
        rows = []
        for scored in found.ranking:
            row = scored.as_dict()
            row["params_json"] = json.dumps(row["params"], sort_keys=True)
            row["simulation"] = recovery.cached_simulation(incident, found, scored)
            row["error_after_pct"] = pct(row["effect"]["error_rate_after"])
            row["simulable"] = scored.candidate.path in scoring.POLICY_PATHS
            row["phases"] = {
                "until": round(sum(v for k, v in row["components"].items() if k.startswith("until")), 2),
                "after": round(sum(v for k, v in row["components"].items() if k.startswith("after")), 2),
            }  # fmt: skip
            row["component_rows"] = [
                (k.split(".", 1)[0], k.split(".", 1)[1].replace("_", " "), v)
                for k, v in row["components"].items()
            ]
            rows.append(row)
        shown = {
            "error_pct": pct(found.inputs["error_rate"]),
            "baseline_pct": pct(found.inputs["baseline_error_rate"]),
            "tolerated_pct": pct(found.inputs["tolerated_error_rate"]),
            "auto_pct": pct(found.inputs["auto_share"]),
        }
        models.append(
            {"slug": found.model.slug, "inputs": found.inputs, "shown": shown, "rows": rows}
        )
    return {
        "models": models,
        "decisions": recovery.decisions_of(incident),
        "may_choose": can_run and incident.status in OPEN_STATUSES,
        "is_lead": has_role(request.user, LEAD),
    }


def pct(value: float | None) -> str:
    """0.0312 → "3.1 %" (percentages are what people compare at a glance)."""
    if value is None:
        return "—"
    return f"{value * 100:.1f}\u00a0%"


def _params(request: HttpRequest) -> Any:
    raw = request.POST.get("params", "") or "{}"
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # the service names it: "params" must be an object


def _refused(request: HttpRequest, exc: ServiceError) -> None:
    details = "; ".join(
        f"{field}: {' '.join(map(str, msgs))}"
        for field, msgs in exc.errors.items()
        if field != "detail"
    )
    flash.error(request, f"{exc.message} {details}".strip())


@login_required
@require_POST
def recovery_simulate(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    try:
        figures = recovery.recovery_simulate(
            incident=incident, actor=request.user, path=request.POST.get("path"),
            params=_params(request), model_slug=request.POST.get("model") or None,
        )  # fmt: skip
    except ServiceError as exc:
        _refused(request, exc)
    else:
        flash.success(
            request,
            _(
                "Simulated on %(n)s predictions: %(c)+d in the queue, %(e)s errors would escape review."
            )
            % {
                "n": figures["predictions"],
                "c": figures["queue_volume"]["change"],
                "e": figures["escaping_errors"],
            },
        )
    return back_to(incident, KEY)


@login_required
@require_POST
def recovery_choose(request: HttpRequest, pk: int) -> HttpResponse:
    incident = incident_or_404(request, pk)
    require_runner(request, incident)
    try:
        decision = recovery.recovery_choose(
            incident=incident, actor=request.user, path=request.POST.get("path"),
            params=_params(request), reason=request.POST.get("reason", ""),
            model_slug=request.POST.get("model") or None,
            emergency=request.POST.get("emergency") == "on",
        )  # fmt: skip
    except ServiceError as exc:
        _refused(request, exc)
    else:
        flash.success(request, _("Recovery path chosen: %s.") % decision.scores["chosen"]["label"])
    return back_to(incident, KEY)
