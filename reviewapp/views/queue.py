"""HTML views of the review queue. Thin: parse the request, call one service or selector,
render. Every view checks the role; services check again (a reviewer acts only on an item
they hold). Everything works as plain form posts; htmx only makes some parts partial."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core import clock, registry, roles
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.core.params import int_or_none
from reviewapp.forms import ClaimForm, DecideForm, ReleaseForm, page_errors
from reviewapp.governance.replay import RoutingReplay, routing_replay
from reviewapp.governance.rules import REASON_LABELS, describe_reasons
from reviewapp.models import Decision, MLModel, ReviewItem
from reviewapp.selectors.blind import reveals, shown_prediction, shows_prediction_ids
from reviewapp.selectors.context import review_context, review_item_for_page
from reviewapp.selectors.history import item_decisions, item_history
from reviewapp.selectors.queue import (
    QueueFilters,
    assignable_users,
    breached_first,
    bulk_assignees,
    page_of,
    queue_counts,
    queue_items,
    visible_model_ids,
)
from reviewapp.services.claims import (
    BAND_NUMBERS,
    ClaimScope,
    can_review,
    is_lead,
    pool_model_ids,
    review_item_claim_next,
    review_item_release,
    review_item_renew,
    review_item_take,
)
from reviewapp.services.decisions import decision_undo, failure_mode_choices, review_item_decide

S = ReviewItem.Status


def require_role(request: HttpRequest, *allowed: str) -> None:
    roles.require(request.user, *allowed)


def models_by_slug() -> dict[str, MLModel]:
    return {m.slug: m for m in MLModel.objects.order_by("slug")}


def _toast(request: HttpRequest) -> dict[str, Any] | None:
    """The "recorded — Undo" toast after submit-and-next, while Undo is still possible."""
    done = int_or_none(request.GET.get("done"), minimum=1)
    if done is None:
        return None
    decision = (
        Decision.objects.filter(pk=done, reviewer=request.user).select_related("item").first()
    )
    if decision is None:
        return None
    left = (decision.deliver_after - clock.now()).total_seconds() if decision.deliver_after else 0
    return {
        "decision": decision,
        "seconds_left": max(0, int(left)),
        "can_undo": left > 0 and decision.undone_at is None,
    }


# --- queue list -----------------------------------------------------------------------------
@login_required
@require_GET
def queue_list(request: HttpRequest) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    return _queue_page(request, request.GET)


# Why a reviewer's pools give them nothing (paused, qualifying, a guideline to read): each
# result a list of {"text", "link", "link_text"}, shown above the queue instead of "nothing".
REVIEWER_NOTICES_HOOK = "queue.reviewer_notices"


def reviewer_notices(user: Any) -> list[dict[str, str]]:
    return [n for notices in registry.run_hooks(REVIEWER_NOTICES_HOOK, user=user) for n in notices]


def _queue_page(request: HttpRequest, query: Any, *, status: int | None = None) -> HttpResponse:
    models = models_by_slug()
    filters = QueueFilters.from_query(query, models=models)
    visible = visible_model_ids(request.user)
    if filters.model and visible is not None and models[filters.model].pk not in visible:
        # A link to a model's queue followed by a reviewer outside its pool: the model is
        # named in the link, so say whose pool it is and who adds people to it.
        raise RoleRequired(model=filters.model)
    items, has_next = [], False
    if not filters.errors:  # a mistyped filter lists nothing rather than everything
        items, has_next = page_of(
            queue_items(user=request.user, filters=filters, models=models), filters.page
        )
    lead = roles.has_role(request.user, roles.LEAD)
    context = {
        "filters": filters,
        "items": items,
        "has_next": has_next,
        "models": models,
        "visible_models": [m for m in models.values() if visible is None or m.pk in visible],
        "counts": queue_counts(
            user=request.user, model_id=models[filters.model].pk if filters.model else None
        ),
        "reason_labels": REASON_LABELS,
        "is_lead": lead,
        "can_review": can_review(request.user),
        "breached": breached_first(user=request.user) if lead else [],
        "assignees": (
            bulk_assignees(model_id=models[filters.model].pk if filters.model else None)
            if lead
            else []
        ),
        "now": clock.now(),
        "near_seconds": settings.REVIEW_SLA_NEAR_SECONDS,
        "toast": _toast(request),
        "bulk_limit": settings.REVIEW_BULK_LIMIT,
        "reviewer_notices": reviewer_notices(request.user),
    }
    if request.htmx and request.GET.get("partial") == "counts":
        return render(request, "reviewapp/queue/_counts.html", context)
    if request.htmx and request.htmx.target == "queue-results":
        return render(request, "reviewapp/queue/_results.html", context)
    status = status or (400 if filters.errors else 200)
    return render(request, "reviewapp/queue/list.html", context, status=status)


# The queue filters "Start reviewing" works through (the others only change the list).
WORK_FILTERS = ("model", "reason", "priority")


@dataclass(frozen=True)
class WorkingFilter:
    """The filter a reviewer works through: what the claim is narrowed to, how the review
    page names it, and the query string that carries it from page to page."""

    scope: ClaimScope
    words: list[str]
    query: str

    def matches(self, item: ReviewItem) -> bool:
        s = self.scope
        return (
            (not s.model_id or item.model_id == s.model_id)
            and (not s.band or item.queue_band == BAND_NUMBERS[s.band])
            and (not s.reason or s.reason in (item.prediction.reason_codes or []))
        )


def working_filter(data: Any) -> tuple[WorkingFilter | None, dict[str, list[str]]]:
    """The working filter in ``data`` (a query or a post), or None when it has none, and the
    errors of its values (field → messages). Reads the models only when a filter is given."""
    if not any((data.get(name) or "").strip() for name in WORK_FILTERS):
        return None, {}
    models = models_by_slug()
    filters = QueueFilters.from_query({n: data.get(n) or "" for n in WORK_FILTERS}, models=models)
    if filters.errors:
        return None, filters.errors
    scope = ClaimScope(
        model_id=models[filters.model].pk if filters.model else None,
        reason=filters.reason,
        band=filters.priority,
    )
    words = [
        *([filters.model] if filters.model else []),
        *([str(REASON_LABELS[filters.reason]).lower()] if filters.reason else []),
        *([_("%(band)s priority") % {"band": filters.priority}] if filters.priority else []),
    ]
    query = filters.query()  # only the three names were read: the rest are defaults
    return WorkingFilter(scope=scope, words=words, query=query), {}


def _with_filter(url: str, within: WorkingFilter | None, done: int | None) -> str:
    """``url`` with the working filter and the decision the toast reports, if any."""
    params = "&".join(
        p for p in (within.query if within else "", f"done={done}" if done else "") if p
    )
    return url + (f"?{params}" if params else "")


def _review_url(item_id: int, *, within: WorkingFilter | None, done: int | None = None) -> str:
    return _with_filter(reverse("queue:review", args=[item_id]), within, done)


def _nothing_waiting(
    request: HttpRequest, within: WorkingFilter | None, done: int | None
) -> HttpResponse:
    """Back to the queue (with the filter worked through) saying why there is no item."""
    if not pool_model_ids(request.user):
        if is_lead(request.user):
            messages.info(
                request,
                _(
                    "You are in no reviewer pool, so no item is yours to claim. Add yourself "
                    "to a model's pool on the Pools page to review its items."
                ),
            )
        else:
            messages.info(
                request, _("You are not in any reviewer pool yet. Ask a lead to add you.")
            )
    elif reviewer_notices(request.user):
        pass  # the queue page says why (paused, qualifying, a guideline to read)
    elif within is not None:
        messages.success(
            request,
            _("No items waiting for you in %(filter)s.") % {"filter": " · ".join(within.words)},
        )
    else:
        messages.success(request, _("No items waiting for you. Well done."))
    return redirect(_with_filter(reverse("queue:list"), within, done))


@login_required
@require_POST
def start_reviewing(request: HttpRequest) -> HttpResponse:
    """Claim the next item, within the filter the queue page showed (model, reason, band)."""
    require_role(request, roles.REVIEWER, roles.LEAD)
    within, errors = working_filter(request.POST)
    if errors:
        messages.error(
            request,
            _("Start reviewing could not use this filter (nothing was claimed): %(errors)s")
            % {"errors": "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())},
        )
        return _queue_page(request, QueryDict(), status=400)
    item = review_item_claim_next(user=request.user, scope=within.scope if within else None)
    done = int_or_none(request.POST.get("done"), minimum=1)
    if item is None:
        return _nothing_waiting(request, within, done)
    return redirect(_review_url(item.pk, within=within, done=done))


# --- review page ----------------------------------------------------------------------------
def _review_page(
    request: HttpRequest,
    item: ReviewItem,
    *,
    errors: dict | None = None,
    status: int = 200,
    posted: dict | None = None,
    within: WorkingFilter | None = None,
) -> HttpResponse:
    ctx = review_context(item, viewer=request.user)
    holds = item.status == S.CLAIMED and item.claimed_by_id == request.user.pk
    if within is None:
        within, _errors = working_filter(request.GET)
    context = {
        "within": within,
        "within_matches": within.matches(item) if within else True,
        "defer_exclusion_minutes": settings.QUEUE_DEFER_EXCLUSION_MINUTES,
        "item": item,
        "prediction": item.prediction,
        "ctx": ctx,
        "holds": holds,
        "is_lead": roles.has_role(request.user, roles.LEAD),
        "can_review": can_review(request.user),
        "labels": list(enumerate(item.model.labels or [], start=1)),
        "tag_groups": _tag_groups(ctx.failure_modes),
        "selected_tags": set(posted.getlist("failure_mode_tags")) if posted else set(),
        "errors": errors or {},
        "posted": posted or {},
        "toast": _toast(request),
        "now": clock.now(),
        "lease_seconds": settings.REVIEW_CLAIM_LEASE_SECONDS,
        "undo_seconds": settings.REVIEW_UNDO_SECONDS,
        "near_seconds": settings.REVIEW_SLA_NEAR_SECONDS,
    }
    response = render(request, "reviewapp/queue/review.html", context, status=status)
    if ctx.presented and ctx.presented.origins:
        # Images by URL load only from the origins this model allows, on this page only.
        response._csp_update = {"img-src": ctx.presented.origins}
    return response


def _tag_groups(matching: list[Any]) -> list[tuple[str, list[Any]]]:
    """The tag picker's choices: the failure modes that match this item (the ones the page
    shows) first, then every other entry a decision may be tagged with, by title."""
    choices = failure_mode_choices()
    order = {fm.slug: n for n, fm in enumerate(matching)}
    first = sorted((c for c in choices if c.slug in order), key=lambda c: order[c.slug])
    rest = [c for c in choices if c.slug not in order]
    groups = [(_("Matching this item"), first), (_("All failure modes"), rest)]
    return [(label, group) for label, group in groups if group]


def _visible_item(request: HttpRequest, item_id: int) -> ReviewItem:
    """The item if the caller may read it; 404 otherwise, so its existence is not revealed."""
    item = review_item_for_page(item_id, user=request.user)
    if item is None:
        raise Http404
    return item


@login_required
@require_GET
def review(request: HttpRequest, item_id: int) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    return _review_page(request, _visible_item(request, item_id))


@login_required
@require_POST
def decide(request: HttpRequest, item_id: int) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD)
    form = DecideForm(request.POST)
    # The filter the reviewer works through rides along in "within" (a query string); one
    # that no longer holds (a model renamed meanwhile) is dropped, and the page says so.
    within, within_errors = working_filter(QueryDict(request.POST.get("within") or ""))
    status = 400
    if form.is_valid():
        try:
            decision = review_item_decide(
                item_id=item_id, user=request.user, **form.decide_kwargs()
            )
        except ServiceError as exc:
            form.add_service_errors(exc)
            status = exc.status
    if form.errors:
        item = _visible_item(request, item_id)
        return _review_page(
            request,
            item,
            errors=page_errors(form),
            status=status,
            posted=request.POST,
            within=within,
        )
    if within_errors:
        messages.warning(
            request,
            _(
                "Recorded. The filter you were working through no longer applies (%(errors)s); "
                "the next item comes from the whole queue."
            )
            % {"errors": "; ".join(f"{n}: {' '.join(m)}" for n, m in within_errors.items())},
        )
    if form.cleaned_data["next"] == "0":
        return redirect(reverse("queue:list") + f"?done={decision.pk}")
    nxt = review_item_claim_next(user=request.user, scope=within.scope if within else None)
    if nxt is None:
        return _nothing_waiting(request, within, decision.pk)
    return redirect(_review_url(nxt.pk, within=within, done=decision.pk))


@login_required
@require_POST
def undo(request: HttpRequest, decision_id: int) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD)
    try:
        item = decision_undo(decision_id=decision_id, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("queue:list")
    messages.success(request, _("Undone. The item is open again for you."))
    return redirect("queue:review", item.pk)


@login_required
@require_POST
def renew(request: HttpRequest, item_id: int) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD)
    form = ClaimForm(request.POST)
    form.is_valid()  # a generation that is not a number is -1: no claim has it
    try:
        item = review_item_renew(
            item_id=item_id, user=request.user, generation=form.cleaned_data["generation"]
        )
    except ServiceError as exc:
        return JsonResponse({"errors": exc.errors}, status=exc.status)
    return JsonResponse({"claim_expires_at": item.claim_expires_at.isoformat()})


@login_required
@require_POST
def take(request: HttpRequest, item_id: int) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD)
    try:
        item = review_item_take(item_id=item_id, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("queue:item", item_id)
    return redirect("queue:review", item.pk)


@login_required
@require_POST
def release(request: HttpRequest, item_id: int) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD)
    form = ReleaseForm(request.POST)
    form.is_valid()  # no generation (or not a number): release the claim the user holds
    try:
        review_item_release(
            item_id=item_id, user=request.user, generation=form.cleaned_data["generation"]
        )
        messages.success(request, _("Item #%(id)s is back in the queue.") % {"id": item_id})
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("queue:list")


# --- item page, escalations, pools, guidelines ----------------------------------------------
@login_required
@require_GET
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    item = _visible_item(request, item_id)
    lead = roles.has_role(request.user, roles.LEAD)
    decisions = item_decisions(item.pk)
    # Blind (docs/quality/blind.md): a reviewer reads the item's own events only, on every
    # item, and a blind item's facts as a live item's.
    full = shows_prediction_ids(request.user) and reveals(request.user, item)
    shown = shown_prediction(item, viewer=request.user)
    return render(
        request,
        "reviewapp/queue/item.html",
        {
            "item": item,
            "prediction": item.prediction,
            "shown": shown,
            "full_history": full,
            "decisions": decisions,
            "history": item_history(item, decisions=decisions, own_only=not full),
            "reasons": describe_reasons(shown.reason_codes, shown.reason_details),
            "is_lead": lead,
            "can_review": can_review(request.user),
            "assignees": list(assignable_users(item.model_id)) if lead else [],
            "now": clock.now(),
            "near_seconds": settings.REVIEW_SLA_NEAR_SECONDS,
        },
    )


# The fields of a replay, in the order the page shows them, with the words it uses.
_REPLAY_FIELDS = (
    ("routed", _lazy("Sent to review")),
    ("reasons", _lazy("Why")),
    ("threshold", _lazy("Threshold")),
    ("details", _lazy("Details")),
    ("fallback", _lazy("Safe fallback")),
    ("policy_hash", _lazy("Policy hash")),
    ("sla_due_at", _lazy("SLA deadline")),
    ("mode", _lazy("Model's mode")),
    ("mode_sample", _lazy("Halted-model sample")),
)


def _replay_rows(replay: RoutingReplay) -> list[dict[str, Any]]:
    """One row per compared field: the recorded and the replayed value, and whether they
    differ (as the replay itself says: ``differences``)."""

    def shown(side: Any, name: str) -> Any:
        value = getattr(side, name)
        if name == "reasons":
            return describe_reasons(list(value), dict(side.details)) or [_("none")]
        if name in ("routed", "mode_sample"):
            return _("yes") if value else _("no")
        if name in ("details", "fallback"):
            return json.dumps(value, sort_keys=True) if value is not None else "—"
        return value

    return [
        {
            "name": name,
            "label": label,
            "sides": (shown(replay.recorded, name), shown(replay.replayed, name)),
            "differs": name in replay.differences,
        }
        for name, label in _REPLAY_FIELDS
    ]


@login_required
@require_GET
def item_replay(request: HttpRequest, item_id: int) -> HttpResponse:
    """Recompute the routing of the item's prediction from its stored facts and the policy
    version that routed it, beside what was recorded. A read: the item page's rule applies."""
    require_role(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    item = _visible_item(request, item_id)
    if not reveals(request.user, item):
        raise Http404  # blind: the source's routing would give the item away
    try:
        replay = routing_replay(item.prediction)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("queue:item", item.pk)
    rows = _replay_rows(replay)
    return render(
        request,
        "reviewapp/queue/replay.html",
        {
            "item": item,
            "prediction": item.prediction,
            "replay": replay,
            "rows": rows,
            "differing": [str(row["label"]).lower() for row in rows if row["differs"]],
            "facts": json.dumps(item.prediction.routing_facts, indent=2, sort_keys=True)
            if item.prediction.routing_facts is not None
            else None,
        },
    )
