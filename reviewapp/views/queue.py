"""HTML views of the review queue. Thin: parse the request, call one service or selector,
render. Every view checks the role; services check again (a reviewer acts only on an item
they hold). Everything works as plain form posts; htmx only makes some parts partial."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core import clock, roles
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.core.params import int_or_none
from reviewapp.forms import ClaimForm, DecideForm, ReleaseForm, page_errors
from reviewapp.governance.replay import RoutingReplay, routing_replay
from reviewapp.governance.rules import REASON_LABELS, describe_reasons
from reviewapp.models import Decision, MLModel, ReviewItem
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
    models = models_by_slug()
    filters = QueueFilters.from_query(request.GET, models=models)
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
    }
    if request.htmx and request.GET.get("partial") == "counts":
        return render(request, "reviewapp/queue/_counts.html", context)
    if request.htmx and request.htmx.target == "queue-results":
        return render(request, "reviewapp/queue/_results.html", context)
    status = 400 if filters.errors else 200
    return render(request, "reviewapp/queue/list.html", context, status=status)


@login_required
@require_POST
def start_reviewing(request: HttpRequest) -> HttpResponse:
    require_role(request, roles.REVIEWER, roles.LEAD)
    item = review_item_claim_next(user=request.user)
    done = int_or_none(request.POST.get("done"), minimum=1)
    suffix = f"?done={done}" if done is not None else ""
    if item is None:
        if not pool_model_ids(request.user) and not is_lead(request.user):
            messages.info(
                request, _("You are not in any reviewer pool yet. Ask a lead to add you.")
            )
        else:
            messages.success(request, _("No items waiting for you. Well done."))
        return redirect(reverse("queue:list") + suffix)
    return redirect(reverse("queue:review", args=[item.pk]) + suffix)


# --- review page ----------------------------------------------------------------------------
def _review_page(
    request: HttpRequest,
    item: ReviewItem,
    *,
    errors: dict | None = None,
    status: int = 200,
    posted: dict | None = None,
) -> HttpResponse:
    ctx = review_context(item)
    holds = item.status == S.CLAIMED and item.claimed_by_id == request.user.pk
    context = {
        "item": item,
        "prediction": item.prediction,
        "ctx": ctx,
        "holds": holds,
        "is_lead": roles.has_role(request.user, roles.LEAD),
        "can_review": can_review(request.user),
        "labels": list(enumerate(item.model.labels or [], start=1)),
        "tag_choices": failure_mode_choices(),
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
            request, item, errors=page_errors(form), status=status, posted=request.POST
        )
    if form.cleaned_data["next"] == "0":
        return redirect(reverse("queue:list") + f"?done={decision.pk}")
    nxt = review_item_claim_next(user=request.user)
    if nxt is None:
        return redirect(reverse("queue:list") + f"?done={decision.pk}")
    return redirect(reverse("queue:review", args=[nxt.pk]) + f"?done={decision.pk}")


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
    return render(
        request,
        "reviewapp/queue/item.html",
        {
            "item": item,
            "prediction": item.prediction,
            "decisions": decisions,
            "history": item_history(item, decisions=decisions),
            "reasons": describe_reasons(
                list(item.prediction.reason_codes or []), item.prediction.reason_details or {}
            ),
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
