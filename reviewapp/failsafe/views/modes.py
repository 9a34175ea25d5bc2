"""The fail-safe pages: every model's mode, one model's mode with its history, and the
switch pages (contain, halt, lift, extend) that show the preview before confirming.

Thin: reads through ``failsafe.selectors``, writes through ``services.modes``. Who may act is
the service's rule (``may_stop``), asked first so a person who may not gets the 403 page
whatever they posted; the service's other refusals (400, 409) re-render the form with the
message beside it and the service's HTTP status.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods

from reviewapp.core import clock, roles
from reviewapp.core.exceptions import ServiceError
from reviewapp.models import Mode

from .. import alert_selectors, selectors
from ..forms import ExtendForm, LiftForm, OwnersForm, SwitchForm, default_review_by
from ..services.modes import may_extend, may_stop, mode_change, mode_extend
from ..services.owners import model_owner_names, model_owners_set

# The switch pages: action -> the mode it switches to (None: extend the review-by time).
ACTIONS: dict[str, str | None] = {
    "contain": Mode.CONTAINED,
    "halt": Mode.HALTED,
    "lift": Mode.NORMAL,
    "extend": None,
}

# Which other pages to link: the queue's roles (the committee reads the fail-safe pages,
# not the queue) and the dashboards' (reviewers have no dashboard pages).
QUEUE_ROLES = (roles.REVIEWER, roles.LEAD, roles.ENGINEER)
DASHBOARD_ROLES = (roles.LEAD, roles.COMMITTEE, roles.ENGINEER)


def _require_reader(request: HttpRequest) -> None:
    roles.require(request.user, *selectors.READERS)


def _state_or_404(request: HttpRequest, slug: str) -> selectors.ModelState:
    state = selectors.model_state(request.user, slug)
    if state is None:
        raise Http404(_("No such model."))
    return state


def actions_for(user: Any, state: selectors.ModelState) -> list[str]:
    """The switch pages ``user`` may open for the model in its current mode."""
    out = []
    for action in ("contain", "halt"):
        if state.mode != ACTIONS[action] and may_stop(user, state.model, ACTIONS[action]):
            out.append(action)
    if state.stopped and may_stop(user, state.model, Mode.NORMAL):
        out.append("lift")
    if state.stopped and may_extend(user, state.model):
        out.append("extend")
    return out


def model_actions(*, model_slug: str, user: Any) -> list[dict[str, Any]]:
    """core.model_actions: the links another app's page of a model offers here (the
    dashboards model page: "Fail-safe", and "Contain…" for who may contain it). One query:
    the model with its mode row."""
    if not roles.has_role(user, *selectors.READERS):
        return []
    model = selectors.visible_model_with_mode(user, model_slug)
    if model is None:
        return []
    links = [{"label": _("Fail-safe"), "url": reverse("failsafe:model", args=[model_slug])}]
    row = getattr(model, "mode_row", None)
    mode = row.mode if row is not None else Mode.NORMAL
    if mode != Mode.CONTAINED and may_stop(user, model, Mode.CONTAINED):
        links.append(
            {
                "label": _("Contain…"),
                "url": reverse("failsafe:contain", args=[model_slug]),
                "primary": True,
            }
        )
    return links


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    states = selectors.models_with_modes(request.user)
    now = clock.now()
    rows = [
        {"state": s, "overdue": s.review_overdue(now), "actions": actions_for(request.user, s)}
        for s in states
    ]
    stopped = sum(1 for s in states if s.stopped)
    unresolved = (
        alert_selectors.alerts_visible_to(request.user).exclude(state="resolved").count()
        if alert_selectors.may_read_alerts(request.user)
        else None
    )
    context = {
        "rows": rows,
        "stopped": stopped,
        "unresolved_alerts": unresolved,
        "now": now,
        "can_queue": roles.has_role(request.user, *QUEUE_ROLES),
        "can_dashboard": roles.has_role(request.user, *DASHBOARD_ROLES),
    }
    return render(request, "failsafe/overview.html", context)


@login_required
@require_GET
def model_page(request: HttpRequest, slug: str) -> HttpResponse:
    _require_reader(request)
    state = _state_or_404(request, slug)
    return _model_page(request, state, owners_form=None, status=200)


@login_required
@require_http_methods(["POST"])
def owners(request: HttpRequest, slug: str) -> HttpResponse:
    """Set the model's owners (leads): the service decides; its 400 re-renders the model page
    with the message under the field."""
    _require_reader(request)
    state = _state_or_404(request, slug)
    roles.require(
        request.user, roles.LEAD, message=_("Only a lead names a model's owners."), model=slug
    )
    form = OwnersForm(request.POST)
    if form.is_valid():
        try:
            model_owners_set(model=state.model, owners=form.usernames(), user=request.user)
        except ServiceError as exc:
            if exc.status == 403:
                raise DjangoPermissionDenied(exc.message) from exc
            form.add_service_errors(exc)
            return _model_page(request, state, owners_form=form, status=exc.status)
        messages.success(request, _("Owners saved."))
        return redirect("failsafe:model", slug=state.model.slug)
    return _model_page(request, state, owners_form=form, status=400)


def _model_page(
    request: HttpRequest, state: selectors.ModelState, *, owners_form: Any, status: int
) -> HttpResponse:
    now = clock.now()
    blocking = selectors.blocking_alert(state.model) if state.stopped else None
    history = list(selectors.mode_history(state.model))
    for change in history:
        change.alert_path = selectors.alert_path(change.alert_id) if change.alert_id else ""
        change.metric_rows, change.no_data = metric_rows(change.metrics)
    owner_names = model_owner_names(state.model)
    may_set_owners = roles.has_role(request.user, roles.LEAD)
    if may_set_owners and owners_form is None:
        owners_form = OwnersForm(initial={"owners": ", ".join(owner_names)})
    return render(
        request,
        "failsafe/model.html",
        {
            "state": state,
            "model": state.model,
            "history": history,
            "can_queue": roles.has_role(request.user, *QUEUE_ROLES),
            "can_dashboard": roles.has_role(request.user, *DASHBOARD_ROLES),
            "actions": actions_for(request.user, state),
            "overdue": state.review_overdue(now),
            "blocking": blocking,
            "blocking_path": selectors.alert_path(blocking.pk) if blocking else "",
            "owner_names": owner_names,
            "owners_form": owners_form if may_set_owners else None,
            "now": now,
        },
        status=status,
    )


# A monitor's state as a lead or on-call engineer says it (the stored words are codes).
STATE_WORDS = {
    "ok": _lazy("ok"),
    "spike": _lazy("spike"),
    "shift": _lazy("persistent shift"),
    "firing": _lazy("firing"),
}


def metric_rows(metrics: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The monitors recorded with a switch: those that had a value or a state worth reading,
    each with its state in words, and the names of those that had no data (one line on the
    page instead of a row each)."""
    rows: list[dict[str, Any]] = []
    no_data: list[str] = []
    for name, m in (metrics or {}).items():
        m = m if isinstance(m, dict) else {"value": m}
        state = m.get("state") or ""
        if state == "no_data" or (m.get("value") is None and state in ("", "no_data")):
            no_data.append(name)
            continue
        rows.append(
            {
                "name": name,
                "value": m.get("value"),
                "bound": m.get("bound"),
                "state": state,
                "word": STATE_WORDS.get(state, state.replace("_", " ")),
            }
        )
    return rows, no_data


def _form_for(action: str, data: Any = None) -> Any:
    if action == "lift":
        return LiftForm(data)
    if action == "extend":
        return ExtendForm(data, initial={"review_by": default_review_by()})
    return SwitchForm(
        data,
        halt=action == "halt",
        initial={
            "review_by": default_review_by(),
            "sample_rate": selectors.default_sample_rate(),
        },
    )


def _may(user: Any, state: selectors.ModelState, action: str) -> bool:
    if action == "extend":
        return may_extend(user, state.model)
    return may_stop(user, state.model, ACTIONS[action])


@login_required
@require_http_methods(["GET", "POST"])
def switch(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    """GET: the preview and the form; POST: the switch (or the extension)."""
    if action not in ACTIONS:
        raise Http404
    _require_reader(request)
    state = _state_or_404(request, slug)
    if not _may(request.user, state, action):
        raise DjangoPermissionDenied
    if request.method == "POST" and action == "halt" and request.POST.get("preview"):
        return _halt_preview(request, state)
    form = _form_for(action, request.POST if request.method == "POST" else None)
    _preview_on_change(form, state, action)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                return _submit(request, state, action, form.cleaned_data)
            except ServiceError as exc:
                if exc.status == 403:
                    raise DjangoPermissionDenied(exc.message) from exc
                form.add_service_errors(exc)
                status = exc.status
        else:
            status = 400
    return _switch_page(request, state, action, form, status)


def _preview_on_change(form: Any, state: selectors.ModelState, action: str) -> None:
    """On the halt page, changing the sample share re-posts the form as a preview (htmx) and
    swaps in the new figures; without htmx the "Update preview" button does the same."""
    if action != "halt" or "sample_rate" not in form.fields:
        return
    form.fields["sample_rate"].widget.attrs.update(
        {
            "hx-post": reverse("failsafe:halt", args=[state.model.slug]),
            "hx-trigger": "input changed delay:400ms, change",
            "hx-vals": '{"preview": "1"}',
            "hx-target": "#preview-region",
            "hx-select": "#preview-region",
            "hx-swap": "outerHTML",
        }
    )


def _halt_preview(request: HttpRequest, state: selectors.ModelState) -> HttpResponse:
    """The halt page again with the preview at the posted sample share; nothing is switched.
    What was typed stays; only a bad share is an error (400, beside its field)."""
    form = _form_for("halt", request.POST)
    form.is_valid()
    for name in list(form.errors):
        if name != "sample_rate":
            del form.errors[name]
    _preview_on_change(form, state, "halt")
    rate = None if "sample_rate" in form.errors else form.cleaned_data.get("sample_rate")
    status = 400 if "sample_rate" in form.errors else 200
    return _switch_page(request, state, "halt", form, status, preview_rate=rate)


def _submit(
    request: HttpRequest, state: selectors.ModelState, action: str, data: dict[str, Any]
) -> HttpResponse:
    model = state.model
    if action == "extend":
        mode_extend(
            model=model, user=request.user, review_by=data["review_by"], note=data.get("note", "")
        )
        messages.success(request, _("Review-by time extended."))
        return redirect("failsafe:model", slug=model.slug)
    mode = ACTIONS[action]
    mode_change(
        model=model,
        mode=mode,
        reason=data["note"] if action == "lift" else data["reason"],
        user=request.user,
        review_by=data.get("review_by"),
        sample_rate=data.get("sample_rate"),
    )
    done = {
        "contain": _("%(m)s is contained: every prediction goes to review."),
        "halt": _("%(m)s is halted: its output is not used, producers serve the fallback."),
        "lift": _("%(m)s is back to normal: its active policy decides again."),
    }[action]
    messages.success(request, done % {"m": model.name or model.slug})
    return redirect("failsafe:model", slug=model.slug)


def _switch_page(
    request: HttpRequest,
    state: selectors.ModelState,
    action: str,
    form: Any,
    status: int,
    *,
    preview_rate: float | None = None,
) -> HttpResponse:
    mode = ACTIONS[action]
    # Nothing to confirm when the model already is in that mode (contain a contained model,
    # lift or extend a model in normal mode): the page says so instead of offering the form.
    pointless = (mode is not None and state.mode == mode) or (
        action == "extend" and not state.stopped
    )
    sample_rate = preview_rate
    if sample_rate is None and action == "halt" and form.is_bound and form.is_valid():
        sample_rate = form.cleaned_data.get("sample_rate")
    preview = (
        selectors.switch_preview(model=state.model, mode=mode, sample_rate=sample_rate)
        if mode is not None and not pointless
        else None
    )
    blocking = selectors.blocking_alert(state.model) if action == "lift" else None
    return render(
        request,
        "failsafe/switch.html",
        {
            "state": state,
            "model": state.model,
            "action": action,
            "mode": mode,
            "form": form,
            "preview": preview,
            "pointless": pointless,
            "blocking": blocking,
            "blocking_path": selectors.alert_path(blocking.pk) if blocking else "",
            "now": clock.now(),
        },
        status=status,
    )
