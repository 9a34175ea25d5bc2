"""The alerts pages: the list (filters: model, state, severity; open first) and one alert (the
rule, the values, the episode, the mode change it caused, the acknowledge form, the history).

Thin: reads through ``alert_selectors``, the one write through ``alert_acknowledge``. Who
reads: leads, engineers, committee; reviewers for their pools' models (alert_selectors).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core import clock, registry
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.core.params import ParamError, parse_int

from .. import alert_selectors as sel
from ..models import Alert
from ..services.acknowledge import alert_acknowledge

PAGE_SIZE = 50
# What other apps offer on an alert's page (playbooks: its incidents, "Open an incident"),
# through core's registry so this app imports none of them. A hook is ``fn(request=, alert=)
# -> [{"label", "url", "method"?: "post", "fields"?: {..}, "primary"?: bool, "note"?: str}]``.
ALERT_ACTIONS_HOOK = "failsafe.alert_actions"


def alert_actions(request: HttpRequest, alert: Alert) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for links in registry.run_hooks(ALERT_ACTIONS_HOOK, request=request, alert=alert):
        found.extend(links or [])
    return found


def _require_reader(request: HttpRequest) -> None:
    if not sel.may_read_alerts(request.user):
        raise RoleRequired(roles=sel.READER_ROLES)


def _filters(request: HttpRequest) -> tuple[dict[str, Any], dict[str, str]]:
    """The list's filters from the query string, and a message per bad one."""
    errors: dict[str, str] = {}
    chosen: dict[str, Any] = {"model": None, "state": "", "severity": ""}
    slug = request.GET.get("model", "").strip()
    if slug:
        model = sel.models_with_alerts(request.user).filter(slug=slug).first()
        if model is None:
            errors["model"] = _("No model %(slug)s among the models whose alerts you read.") % {
                "slug": slug
            }
        chosen["model"] = model
    state = request.GET.get("state", "").strip()
    if state and state not in Alert.State.values:
        errors["state"] = _("Unknown state: use open, acknowledged or resolved.")
    elif state:
        chosen["state"] = state
    severity = request.GET.get("severity", "").strip()
    if severity and severity not in sel.SEVERITIES:
        errors["severity"] = _("Unknown severity: use S1, S2, S3 or S4.")
    elif severity:
        chosen["severity"] = severity
    return chosen, errors


@login_required
@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    chosen, errors = _filters(request)
    model = chosen["model"]
    model_id = model.pk if model is not None else None
    qs = sel.alert_list(
        request.user, model_id=model_id, state=chosen["state"], severity=chosen["severity"]
    )
    try:
        number = parse_int(request.GET.get("page"), name="page", minimum=1, default=1)
    except ParamError as exc:
        errors["page"] = exc.message
        number = 1
    paginator = Paginator(qs, PAGE_SIZE)
    page = paginator.get_page(number)
    now = clock.now()
    rows = [_row(alert, now) for alert in page.object_list]
    state_counts = sel.alert_counts(
        sel.alert_list(request.user, model_id=model_id, severity=chosen["severity"]), "state"
    )
    severity_counts = sel.alert_counts(
        sel.alert_list(request.user, model_id=model_id, state=chosen["state"]), "severity"
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "chosen": chosen,
        "errors": errors,
        "states": [(v, label, state_counts.get(v, 0)) for v, label in Alert.State.choices],
        "severities": [(v, severity_counts.get(v, 0)) for v in sel.SEVERITIES],
        "models": list(sel.models_with_alerts(request.user).values_list("slug", flat=True)),
        "open_total": state_counts.get(Alert.State.OPEN, 0),
    }
    return render(request, "failsafe/alerts.html", context, status=400 if errors else 200)


def _row(alert: Alert, now: Any) -> dict[str, Any]:
    return {
        "alert": alert,
        "monitor": sel.monitor_label(alert.monitor),
        "values": sel.bound_text(alert),
        "action": sel.action_text(alert),
        "duration": sel.duration_text(sel.alert_duration_seconds(alert, now=now)),
        "state_tone": sel.STATE_TONES.get(alert.state, "grey"),
        "severity_tone": sel.SEVERITY_TONES.get(alert.severity, "grey"),
    }


def _detail_context(request: HttpRequest, alert: Alert) -> dict[str, Any]:
    rule = alert.rule or {}
    return {
        "alert": alert,
        "rule": rule,
        "monitor": sel.monitor_label(alert.monitor),
        "summary": sel.alert_summary(alert),
        "values": sel.bound_text(alert),
        "peak": sel.number(alert.peak),
        "last_value": sel.number(alert.last_value),
        "first_value": sel.number(alert.value),
        "bound": sel.number(rule.get("bound")),
        "action": sel.action_text(alert),
        "duration": sel.duration_text(sel.alert_duration_seconds(alert)),
        "mode_changes": sel.alert_mode_changes(alert),
        "history": sel.alert_history(alert),
        "actions": alert_actions(request, alert),
        "can_acknowledge": sel.may_acknowledge(request.user) and alert.state == Alert.State.OPEN,
        "state_tone": sel.STATE_TONES.get(alert.state, "grey"),
        "severity_tone": sel.SEVERITY_TONES.get(alert.severity, "grey"),
        "note_error": "",
        "note": "",
    }


def _alert_or_404(request: HttpRequest, alert_id: int) -> Alert:
    alert = sel.alert_get(request.user, alert_id)
    if alert is None:
        raise Http404(_("No such alert."))
    return alert


@login_required
@require_GET
def alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    _require_reader(request)
    return render(
        request,
        "failsafe/alerts_detail.html",
        _detail_context(request, _alert_or_404(request, alert_id)),
    )


@login_required
@require_POST
def alert_acknowledge_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    _require_reader(request)
    found = _alert_or_404(request, alert_id)
    note = request.POST.get("note", "")
    try:
        alert_acknowledge(alert=found, user=request.user, note=note)
    except ServiceError as exc:
        if exc.status == 403:
            raise DjangoPermissionDenied from exc
        if exc.status == 404:
            raise Http404(exc.message) from exc
        current = _alert_or_404(request, alert_id)
        context = _detail_context(request, current)
        context["note"] = note
        context["note_error"] = " ".join(
            message for messages_ in exc.errors.values() for message in messages_
        )
        return render(request, "failsafe/alerts_detail.html", context, status=exc.status)
    messages.success(request, _("Alert #%(id)s acknowledged: it is yours now.") % {"id": found.pk})
    return redirect("failsafe:alert", alert_id=found.pk)
