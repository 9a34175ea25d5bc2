"""Per-model policy pages: the current policy (read-only), every version with who proposed,
approved and why, a rule-by-rule diff of any two, the export, the emergency rollback form and
"propose a rollback to this version".

Who reads what (docs/policies.md, "Policy pages"): reviewers read the current policy of the
models in their pools (404 for any other model, as the queue answers); leads, committee
members and engineers read every model's current policy and history. Engineers and leads
propose rollbacks; only leads roll back in an emergency. Views stay thin: the reads are
``governance.history`` and the queue's visibility selector, the writes are
``services.change_request_rollback_draft`` and ``services.emergency_rollback``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reviewapp.core import roles
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.params import ParamError, parse_int
from reviewapp.core.time import iso_utc

from .. import describe, history, review_quality, selectors, services
from ..links import propose_path, request_path
from ..models import DocumentKind
from ..services import documents

CURRENT_ROLES = (roles.REVIEWER, roles.LEAD, roles.COMMITTEE, roles.ENGINEER)
HISTORY_ROLES = (roles.LEAD, roles.COMMITTEE, roles.ENGINEER)
PROPOSE_ROLES = (roles.ENGINEER, roles.LEAD)
KIND_LABELS = dict(DocumentKind.choices)


def _require(request: HttpRequest, allowed: tuple[str, ...]) -> None:
    roles.require(request.user, *allowed)


def _model(request: HttpRequest, slug: str) -> Any:
    """The model, if the caller may read it; 404 otherwise, as for a model that does not exist."""
    model = selectors.visible_model(request.user, slug)
    if model is None:
        raise Http404(_("No such model."))
    return model


def _bad_request(request: HttpRequest, model: Any, exc: ServiceError) -> HttpResponse:
    return render(
        request,
        "governance/policy/bad_request.html",
        {"model": model, "errors": exc.errors, "message": exc.message},
        status=exc.status,
    )


def _kind(request: HttpRequest) -> str:
    kind = request.GET.get("kind", DocumentKind.ROUTING_POLICY)
    if kind not in DocumentKind.values:
        raise ParamError("kind", _("Must be one of %s.") % ", ".join(DocumentKind.values))
    return kind


# --- the current policy ---------------------------------------------------------------------
@login_required
@require_GET
def model_policy(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, CURRENT_ROLES)
    model = _model(request, slug)
    active = history.active_entries(model_slug=model.slug)
    policy = active[DocumentKind.ROUTING_POLICY]
    return render(
        request,
        "governance/policy/current.html",
        {
            "model": model,
            "policy": policy,
            "view": describe.policy_view(policy.document) if policy else None,
            "policy_json": json.dumps(policy.document, indent=2, sort_keys=True) if policy else "",
            "model_settings": active[DocumentKind.MODEL_SETTINGS],
            "settings_rows": _settings_rows(active[DocumentKind.MODEL_SETTINGS]),
            # labels: the active review-quality version, every setting (defaults marked).
            "review_quality": active.get(DocumentKind.REVIEW_QUALITY),
            "review_quality_rows": _review_quality_rows(active.get(DocumentKind.REVIEW_QUALITY)),
            "review_quality_propose_path": (
                f"{propose_path(model.slug)}&{urlencode({'kind': DocumentKind.REVIEW_QUALITY})}"
            ),
            "can_read_history": roles.has_role(request.user, *HISTORY_ROLES),
            "can_propose": roles.has_role(request.user, *PROPOSE_ROLES),
            "is_lead": roles.has_role(request.user, roles.LEAD),
            "propose_path": propose_path(model.slug),
            "request_path": request_path(policy.change_request.pk)
            if policy and policy.change_request
            else "",
        },
    )


def _settings_rows(entry: history.VersionEntry | None) -> list[tuple[str, str]]:
    if entry is None:
        return []
    # Strict output has a line of its own on the page, in words, set or not.
    return [
        (describe.path_label(key), describe.value_text(value))
        for key, value in describe.flatten(entry.document).items()
        if key != "strict_output"
    ]


def _review_quality_rows(entry: history.VersionEntry | None) -> list[tuple[str, str, bool]]:
    """(setting, value, set by the version) for every review-quality setting: what the model
    runs with, the defaults filling what the version leaves out."""
    document = entry.document if entry else {}
    return [
        (describe.path_label(key), describe.value_text(value), key in document)
        for key, value in review_quality.effective(document).items()
    ]


# --- history ------------------------------------------------------------------------------
@login_required
@require_GET
def policy_history(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, HISTORY_ROLES)
    model = _model(request, slug)
    entries = history.version_history(model_slug=model.slug)
    by_kind = {kind: [e for e in entries if e.kind == kind] for kind in history.KINDS}
    policies = by_kind[DocumentKind.ROUTING_POLICY]
    return render(
        request,
        "governance/policy/history.html",
        {
            "model": model,
            "sections": [
                {"kind": kind, "label": KIND_LABELS[kind], "entries": rows}
                for kind, rows in by_kind.items()
            ],
            "default_a": policies[1].version if len(policies) > 1 else None,
            "default_b": policies[0].version if policies else None,
            "can_propose": roles.has_role(request.user, *PROPOSE_ROLES),
            "is_lead": roles.has_role(request.user, roles.LEAD),
            "previous": documents.previously_active(
                model_slug=model.slug, kind=DocumentKind.ROUTING_POLICY
            ),
        },
    )


# --- diff ---------------------------------------------------------------------------------
@login_required
@require_GET
def policy_diff(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, HISTORY_ROLES)
    model = _model(request, slug)
    try:
        kind = _kind(request)
        a = parse_int(request.GET.get("a"), name="a", minimum=1)
        b = parse_int(request.GET.get("b"), name="b", minimum=1)
        entries = {e.version: e for e in history.version_history(model_slug=model.slug, kind=kind)}
        for name, number in (("a", a), ("b", b)):
            if number not in entries:
                raise ServiceError(
                    _("This model has no version %(n)d of its %(kind)s.")
                    % {"n": number, "kind": KIND_LABELS[kind].lower()},
                    status=404,
                    errors={name: [_("No version %d.") % number]},
                )
    except ServiceError as exc:
        return _bad_request(request, model, exc)
    rows = describe.diff(entries[a].document, entries[b].document)
    changed = [r for r in rows if r.change != "same"]
    return render(
        request,
        "governance/policy/diff.html",
        {
            "model": model,
            "kind": kind,
            "kind_label": KIND_LABELS[kind],
            "a": entries[a],
            "b": entries[b],
            "rows": rows,
            "changed": changed,
            "unchanged": len(rows) - len(changed),
            "versions": sorted(entries),
        },
    )


# --- export -------------------------------------------------------------------------------
EXPORT_FIELDS = [
    "model", "kind", "version", "hash", "is_active", "active_from", "active_to", "proposed_by",
    "approved_by", "change_request", "emergency", "rationale", "document",
]  # fmt: skip


def export_row(model_slug: str, entry: history.VersionEntry) -> dict[str, Any]:
    cr = entry.change_request
    return {
        "model": model_slug,
        "kind": entry.kind,
        "version": entry.version,
        "hash": entry.hash,
        "is_active": entry.is_active,
        "active_from": iso_utc(entry.activated_at),
        "active_to": iso_utc(entry.deactivated_at),
        "proposed_by": entry.proposer.get_username() if entry.proposer else None,
        "approved_by": entry.approvers,
        "change_request": cr.pk if cr else None,
        "emergency": entry.is_emergency,
        "rationale": entry.rationale,
        "document": entry.document,
    }


@login_required
@require_GET
def policy_export(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, HISTORY_ROLES)
    model = _model(request, slug)
    fmt = request.GET.get("format", "json")
    if fmt not in ("json", "csv"):
        return _bad_request(request, model, ParamError("format", _("Must be json or csv.")))
    rows = [export_row(model.slug, e) for e in history.version_history(model_slug=model.slug)]
    filename = f"{model.slug}-policy-history.{fmt}"
    if fmt == "json":
        response = JsonResponse(
            {"model": model.slug, "versions": rows}, json_dumps_params={"indent": 2}
        )
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **row,
                    "approved_by": " ".join(row["approved_by"]),
                    "document": json.dumps(row["document"], sort_keys=True, ensure_ascii=False),
                    "is_active": "true" if row["is_active"] else "false",
                    "emergency": "true" if row["emergency"] else "false",
                }
            )
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- rollbacks ----------------------------------------------------------------------------
@login_required
@require_POST
def rollback_draft(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Propose a rollback to this version": a draft request restoring it, for the committee."""
    _require(request, PROPOSE_ROLES)
    model = _model(request, slug)
    try:
        kind = request.POST.get("kind", DocumentKind.ROUTING_POLICY)
        version = parse_int(request.POST.get("to_version"), name="to_version", minimum=1)
        cr = services.change_request_rollback_draft(
            model_slug=model.slug,
            to_version=version,
            kind=kind,
            user=request.user,
            rationale=_("Roll back to v%(v)d. (Say why before you submit.)") % {"v": version},
        )
    except ServiceError as exc:
        messages.error(request, _first_message(exc))
        return redirect("governance:policy-history", slug=model.slug)
    messages.success(
        request,
        _("Draft change request #%(id)d restores v%(v)d. Say why, then submit it for review.")
        % {"id": cr.pk, "v": version},
    )
    return redirect(request_path(cr.pk))


def _first_message(exc: ServiceError) -> str:
    for field_name, problems in exc.errors.items():
        if field_name == "detail":
            return " ".join(problems)
        return f"{exc.message} {' '.join(problems)}"
    return exc.message


@login_required
@require_http_methods(["GET", "POST"])
def emergency_rollback(request: HttpRequest, slug: str) -> HttpResponse:
    """Leads only. GET shows the version it restores; POST with ``confirm`` applies it."""
    _require(request, (roles.LEAD,))
    model = _model(request, slug)
    kind = DocumentKind.ROUTING_POLICY
    current = documents.active_version(model_slug=model.slug, kind=kind)
    previous = documents.previously_active(model_slug=model.slug, kind=kind)
    context: dict[str, Any] = {
        "model": model,
        "current": current,
        "previous": previous,
        "rows": [
            r
            for r in (
                describe.diff(current.document, previous.document) if current and previous else []
            )
            if r.change != "same"
        ],
        "reason": "",
        "errors": {},
        "awaiting": history.emergency_awaiting(model.slug),
        "ratification_hours": settings.GOVERNANCE_RATIFICATION_HOURS,
    }
    if request.method == "GET":
        return render(request, "governance/policy/emergency_rollback.html", context)
    reason = request.POST.get("reason", "")
    context["reason"] = reason
    status = 400
    try:
        to_version = parse_int(request.POST.get("to_version"), name="to_version", minimum=1)
        if request.POST.get("confirm") != "yes":
            raise ServiceError(
                _("Tick the confirmation."),
                errors={"confirm": [_("Required: confirm that routing changes at once.")]},
            )
        cr = services.emergency_rollback(
            model_slug=model.slug, to_version=to_version, reason=reason, user=request.user
        )
    except ServiceError as exc:
        context["errors"] = exc.errors
        context["message"] = exc.message
        status = exc.status
        return render(request, "governance/policy/emergency_rollback.html", context, status=status)
    messages.success(
        request,
        _(
            "Rolled back: v%(new)d (equal to v%(old)d) routes %(model)s now. A committee "
            "member must ratify it within %(hours)d hours."
        )
        % {
            "new": cr.applied_version,
            "old": cr.restores_version,
            "model": model.slug,
            "hours": settings.GOVERNANCE_RATIFICATION_HOURS,
        },
    )
    return redirect(request_path(cr.pk))


urlpatterns = [
    path("models/<slug:slug>/", model_policy, name="model-policy"),
    path("models/<slug:slug>/history/", policy_history, name="policy-history"),
    path("models/<slug:slug>/diff/", policy_diff, name="policy-diff"),
    path("models/<slug:slug>/export/", policy_export, name="policy-export"),
    path("models/<slug:slug>/rollback/", rollback_draft, name="policy-rollback-draft"),
    path("models/<slug:slug>/emergency-rollback/", emergency_rollback, name="emergency-rollback"),
]
