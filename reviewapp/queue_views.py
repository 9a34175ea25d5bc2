"""HTML views of the review queue. Thin: parse the request, call one service or selector,
render. Every view checks the role; services check again (a reviewer acts only on an item
they hold). Everything works as plain form posts; htmx only makes some parts partial."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from reviewapp import queue_selectors as sel
from reviewapp.core import roles
from reviewapp.core.exceptions import ServiceError
from reviewapp.governance.rules import REASON_LABELS, describe_reasons
from reviewapp.models import Decision, MLModel, ReviewItem
from reviewapp.services import review as svc

S = ReviewItem.Status


def _require(request: HttpRequest, *allowed: str) -> None:
    if not roles.has_role(request.user, *allowed):
        raise DjangoPermissionDenied


def _models() -> dict[str, MLModel]:
    return {m.slug: m for m in MLModel.objects.order_by("slug")}


def _toast(request: HttpRequest) -> dict[str, Any] | None:
    """The "recorded — Undo" toast after submit-and-next, while Undo is still possible."""
    raw = request.GET.get("done")
    if not raw or not raw.isdigit():
        return None
    decision = (
        Decision.objects.filter(pk=int(raw), reviewer=request.user).select_related("item").first()
    )
    if decision is None:
        return None
    left = (
        (decision.deliver_after - timezone.now()).total_seconds() if decision.deliver_after else 0
    )
    return {
        "decision": decision,
        "seconds_left": max(0, int(left)),
        "can_undo": left > 0 and decision.undone_at is None,
    }


# --- queue list -----------------------------------------------------------------------------
@login_required
@require_GET
def queue_list(request: HttpRequest) -> HttpResponse:
    _require(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    models = _models()
    filters = sel.QueueFilters.from_query(request.GET, models=models)
    items, has_next = sel.page_of(
        sel.queue_items(user=request.user, filters=filters, models=models), filters.page
    )
    is_lead = roles.has_role(request.user, roles.LEAD)
    visible = sel.visible_model_ids(request.user)
    context = {
        "filters": filters,
        "items": items,
        "has_next": has_next,
        "models": models,
        "visible_models": [m for m in models.values() if visible is None or m.pk in visible],
        "counts": sel.queue_counts(
            user=request.user, model_id=models[filters.model].pk if filters.model else None
        ),
        "reason_labels": REASON_LABELS,
        "is_lead": is_lead,
        "can_review": svc.can_review(request.user),
        "breached": sel.breached_first(user=request.user) if is_lead else [],
        "assignees": list(sel.assignable_users()) if is_lead else [],
        "now": timezone.now(),
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
    _require(request, roles.REVIEWER, roles.LEAD)
    item = svc.review_item_claim_next(user=request.user)
    done = request.POST.get("done") or ""
    suffix = f"?done={done}" if done.isdigit() else ""
    if item is None:
        if not svc.pool_model_ids(request.user) and not svc.is_lead(request.user):
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
    ctx = sel.review_context(item)
    holds = item.status == S.CLAIMED and item.claimed_by_id == request.user.pk
    context = {
        "item": item,
        "prediction": item.prediction,
        "ctx": ctx,
        "holds": holds,
        "is_lead": roles.has_role(request.user, roles.LEAD),
        "can_review": svc.can_review(request.user),
        "labels": list(enumerate(item.model.labels or [], start=1)),
        "tag_choices": svc.failure_mode_choices(),
        "errors": errors or {},
        "posted": posted or {},
        "toast": _toast(request),
        "now": timezone.now(),
        "lease_seconds": settings.REVIEW_CLAIM_LEASE_SECONDS,
        "undo_seconds": settings.REVIEW_UNDO_SECONDS,
        "near_seconds": settings.REVIEW_SLA_NEAR_SECONDS,
    }
    return render(request, "reviewapp/queue/review.html", context, status=status)


def _visible_item(request: HttpRequest, item_id: int) -> ReviewItem:
    item = sel.review_item_for_page(item_id)
    if item is None:
        raise Http404
    visible = sel.visible_model_ids(request.user)
    if (
        visible is not None
        and item.model_id not in visible
        and item.claimed_by_id != request.user.pk
    ):
        raise DjangoPermissionDenied
    return item


@login_required
@require_GET
def review(request: HttpRequest, item_id: int) -> HttpResponse:
    _require(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    return _review_page(request, _visible_item(request, item_id))


@login_required
@require_POST
def decide(request: HttpRequest, item_id: int) -> HttpResponse:
    _require(request, roles.REVIEWER, roles.LEAD)
    post = request.POST
    action = post.get("action", "")
    text = post.get("reason", "")
    wake_raw = (post.get("wake_at") or "").strip()
    errors: dict[str, list[str]] = {}
    wake_at = None
    if wake_raw and action == Decision.Action.DEFER:
        wake_at = parse_datetime(wake_raw)
        if wake_at is None:
            errors["wake_at"] = [_("Not a date and time.")]
        elif timezone.is_naive(wake_at):
            wake_at = timezone.make_aware(wake_at, timezone.get_current_timezone())
    generation = post.get("generation", "")
    guideline = post.get("guideline_version", "")
    try:
        if errors:
            raise ServiceError(_("The decision has problems."), errors=errors)
        decision = svc.review_item_decide(
            item_id=item_id,
            user=request.user,
            action=action,
            generation=int(generation) if generation.isdigit() else -1,
            label=post.get("label", ""),
            reason=text if action == Decision.Action.OVERRIDE else "",
            note=text if action != Decision.Action.OVERRIDE else "",
            wake_at=wake_at,
            failure_mode_tags=post.getlist("failure_mode_tags"),
            guideline_version_id=int(guideline) if guideline.isdigit() else None,
        )
    except ServiceError as exc:
        item = _visible_item(request, item_id)
        # The form's single text box carries both "reason" and "note".
        errs = {("reason" if k == "note" else k): v for k, v in exc.errors.items()}
        return _review_page(request, item, errors=errs, status=exc.status, posted=post)
    if post.get("next") == "0":
        return redirect(reverse("queue:list") + f"?done={decision.pk}")
    nxt = svc.review_item_claim_next(user=request.user)
    if nxt is None:
        return redirect(reverse("queue:list") + f"?done={decision.pk}")
    return redirect(reverse("queue:review", args=[nxt.pk]) + f"?done={decision.pk}")


@login_required
@require_POST
def undo(request: HttpRequest, decision_id: int) -> HttpResponse:
    _require(request, roles.REVIEWER, roles.LEAD)
    try:
        item = svc.decision_undo(decision_id=decision_id, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("queue:list")
    messages.success(request, _("Undone. The item is open again for you."))
    return redirect("queue:review", item.pk)


@login_required
@require_POST
def renew(request: HttpRequest, item_id: int) -> HttpResponse:
    _require(request, roles.REVIEWER, roles.LEAD)
    generation = request.POST.get("generation", "")
    try:
        item = svc.review_item_renew(
            item_id=item_id,
            user=request.user,
            generation=int(generation) if generation.isdigit() else -1,
        )
    except ServiceError as exc:
        return JsonResponse({"errors": exc.errors}, status=exc.status)
    return JsonResponse({"claim_expires_at": item.claim_expires_at.isoformat()})


@login_required
@require_POST
def take(request: HttpRequest, item_id: int) -> HttpResponse:
    _require(request, roles.REVIEWER, roles.LEAD)
    try:
        item = svc.review_item_take(item_id=item_id, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("queue:item", item_id)
    return redirect("queue:review", item.pk)


@login_required
@require_POST
def release(request: HttpRequest, item_id: int) -> HttpResponse:
    _require(request, roles.REVIEWER, roles.LEAD)
    generation = request.POST.get("generation", "")
    try:
        svc.review_item_release(
            item_id=item_id,
            user=request.user,
            generation=int(generation) if generation.isdigit() else None,
        )
        messages.success(request, _("Item #%(id)s is back in the queue.") % {"id": item_id})
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("queue:list")


@login_required
@require_POST
def assign(request: HttpRequest, item_id: int) -> HttpResponse:
    _require(request, roles.LEAD)
    User = get_user_model()
    assignee = User.objects.filter(username=request.POST.get("assignee", "")).first()
    try:
        if assignee is None:
            raise ServiceError(_("Pick a reviewer."), errors={"assignee": [_("Pick a reviewer.")]})
        svc.review_item_assign(item_id=item_id, assignee=assignee, by=request.user)
        messages.success(
            request,
            _("Item #%(id)s assigned to %(name)s.")
            % {"id": item_id, "name": assignee.get_username()},
        )
    except ServiceError as exc:
        messages.error(request, "; ".join(m for msgs in exc.errors.values() for m in msgs))
    return redirect(
        request.POST.get("back") if _safe_back(request) else reverse("queue:item", args=[item_id])
    )


def _safe_back(request: HttpRequest) -> bool:
    back = request.POST.get("back", "")
    return back.startswith("/queue/") and "//" not in back


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    _require(request, roles.LEAD)
    post = request.POST
    action = post.get("action", "")
    if post.get("scope") == "filter":
        models = _models()
        from django.http import QueryDict

        filters = sel.QueueFilters.from_query(QueryDict(post.get("query", "")), models=models)
        ids = list(
            sel.queue_items(user=request.user, filters=filters, models=models).values_list(
                "id", flat=True
            )[: settings.REVIEW_BULK_LIMIT + 1]
        )
    else:
        ids = [int(i) for i in post.getlist("items") if i.isdigit()]
    assignee = (
        get_user_model().objects.filter(username=post.get("assignee", "")).first()
        if action == "assign"
        else None
    )
    try:
        result = svc.review_items_bulk(
            item_ids=ids, action=action, by=request.user, assignee=assignee
        )
    except ServiceError as exc:
        messages.error(request, "; ".join(m for msgs in exc.errors.values() for m in msgs))
    else:
        verb = _("assigned") if action == "assign" else _("released")
        messages.success(
            request, _("%(n)s item(s) %(verb)s.") % {"n": len(result.done), "verb": verb}
        )
        if result.skipped:
            sample = "; ".join(f"#{k}: {v}" for k, v in list(result.skipped.items())[:5])
            messages.warning(
                request, _("%(n)s skipped (%(why)s).") % {"n": len(result.skipped), "why": sample}
            )
    back = post.get("back", "")
    return redirect(
        back if back.startswith("/queue/") and "//" not in back else reverse("queue:list")
    )


# --- item page, escalations, pools, guidelines ----------------------------------------------
@login_required
@require_GET
def item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    _require(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    item = _visible_item(request, item_id)
    is_lead = roles.has_role(request.user, roles.LEAD)
    return render(
        request,
        "reviewapp/queue/item.html",
        {
            "item": item,
            "prediction": item.prediction,
            "decisions": sel.item_decisions(item.pk),
            "history": sel.item_history(item),
            "reasons": describe_reasons(
                list(item.prediction.reason_codes or []), item.prediction.reason_details or {}
            ),
            "is_lead": is_lead,
            "can_review": svc.can_review(request.user),
            "assignees": list(sel.assignable_users(item.model_id)) if is_lead else [],
            "now": timezone.now(),
            "near_seconds": settings.REVIEW_SLA_NEAR_SECONDS,
        },
    )


@login_required
@require_GET
def escalations(request: HttpRequest) -> HttpResponse:
    _require(request, roles.LEAD)
    items = list(
        ReviewItem.objects.filter(status=S.ESCALATED)
        .select_related("model", "prediction")
        .order_by("-priority", "sla_due_at", "id")[:200]
    )
    notes: dict[int, Decision] = {}
    for d in (
        Decision.objects.filter(
            item_id__in=[i.pk for i in items],
            action__in=["escalate", "defer"],
            undone_at__isnull=True,
        )
        .select_related("reviewer")
        .order_by("decided_at", "id")
    ):
        notes[d.item_id] = d
    rows = [(i, notes.get(i.pk)) for i in items]
    return render(
        request,
        "reviewapp/queue/escalations.html",
        {"rows": rows, "now": timezone.now(), "near_seconds": settings.REVIEW_SLA_NEAR_SECONDS},
    )


@login_required
def pools(request: HttpRequest) -> HttpResponse:
    _require(request, roles.LEAD, roles.REVIEWER, roles.ENGINEER)
    is_lead = roles.has_role(request.user, roles.LEAD)
    if request.method == "POST":
        if not is_lead:
            raise DjangoPermissionDenied
        model = get_object_or_404(MLModel, slug=request.POST.get("model", ""))
        user = get_user_model().objects.filter(username=request.POST.get("user", "")).first()
        try:
            if user is None:
                raise ServiceError(_("Pick a person."), errors={"user": [_("Pick a person.")]})
            if request.POST.get("op") == "remove":
                svc.pool_member_remove(model=model, user=user, by=request.user)
                messages.success(
                    request,
                    _("%(u)s removed from the %(m)s pool.")
                    % {"u": user.get_username(), "m": model.slug},
                )
            else:
                svc.pool_member_add(model=model, user=user, by=request.user)
                messages.success(
                    request,
                    _("%(u)s added to the %(m)s pool.")
                    % {"u": user.get_username(), "m": model.slug},
                )
        except ServiceError as exc:
            messages.error(request, "; ".join(m for msgs in exc.errors.values() for m in msgs))
        return redirect("queue:pools")
    return render(
        request,
        "reviewapp/queue/pools.html",
        {"pools": sel.pools_overview(), "is_lead": is_lead, "people": list(sel.assignable_users())},
    )


@login_required
def guideline(request: HttpRequest, slug: str) -> HttpResponse:
    _require(request, roles.LEAD, roles.REVIEWER, roles.ENGINEER)
    model = get_object_or_404(MLModel, slug=slug)
    is_lead = roles.has_role(request.user, roles.LEAD)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not is_lead:
            raise DjangoPermissionDenied
        try:
            version = svc.guideline_publish(
                model=model,
                body=request.POST.get("body", ""),
                note=request.POST.get("note", ""),
                by=request.user,
            )
            messages.success(request, _("Guideline v%(v)s published.") % {"v": version.version})
            return redirect("queue:guideline", slug)
        except ServiceError as exc:
            errors = exc.errors
    versions = list(model.guideline_versions.select_related("created_by").order_by("-version")[:50])
    shown = versions[0] if versions else None
    wanted = request.GET.get("v", "")
    if wanted.isdigit():
        shown = next((v for v in versions if v.version == int(wanted)), shown)
    if request.htmx:
        return render(request, "reviewapp/queue/_guideline.html", {"model": model, "shown": shown})
    return render(
        request,
        "reviewapp/queue/guideline.html",
        {
            "model": model,
            "versions": versions,
            "shown": shown,
            "is_lead": is_lead,
            "errors": errors,
            "draft": request.POST.get("body") if errors else (versions[0].body if versions else ""),
        },
        status=400 if errors else 200,
    )
