"""HTML views of the review queue. Thin: parse the request, call one service or selector,
render. Every view checks the role; services check again (a reviewer acts only on an item
they hold). Everything works as plain form posts; htmx only makes some parts partial."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core import clock, roles
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.core.params import int_or_none
from reviewapp.core.redirects import safe_next
from reviewapp.forms import (
    AssignForm,
    BulkForm,
    GuidelineForm,
    PoolMemberForm,
    form_messages,
    page_errors,
)
from reviewapp.models import Decision, MLModel, ReviewItem
from reviewapp.selectors.queue import (
    BulkPreview,
    QueueFilters,
    assignable_users,
    bulk_preview,
    pools_overview,
    queue_items,
)
from reviewapp.selectors.visibility import review_items_visible_to
from reviewapp.services.claims import (
    bulk_assignee_check,
    review_item_assign,
    review_items_bulk,
)
from reviewapp.services.pools import guideline_publish, pool_member_add, pool_member_remove
from reviewapp.views.queue import models_by_slug, require_role

S = ReviewItem.Status


def service_messages(exc: ServiceError) -> str:
    """Every message of a service error in one line, for a flash message."""
    return "; ".join(m for msgs in exc.errors.values() for m in msgs)


@login_required
@require_POST
def assign(request: HttpRequest, item_id: int) -> HttpResponse:
    require_role(request, roles.LEAD)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_messages(form))
    else:
        assignee = form.cleaned_data["assignee"]
        try:
            review_item_assign(item_id=item_id, assignee=assignee, by=request.user)
            messages.success(
                request,
                _("Item #%(id)s assigned to %(name)s.")
                % {"id": item_id, "name": assignee.get_username()},
            )
        except ServiceError as exc:
            messages.error(request, service_messages(exc))
    return redirect(safe_next(request, "back", default=reverse("queue:item", args=[item_id])))


def _bulk_question(action: str, preview: BulkPreview, assignee: Any) -> str:
    """The confirmation names the consequence: what, how many, in which state, of which
    models ("Release 12 claimed items of card-fraud?")."""
    labels = dict(S.choices)
    values = {
        "n": preview.count,
        "statuses": _(" or ").join(str(labels.get(s, s)).lower() for s in preview.statuses),
        "models": ", ".join(preview.model_slugs),
        "name": assignee.get_username() if assignee is not None else "",
    }
    if action == "assign":
        return (
            ngettext(
                "Assign %(n)s %(statuses)s item of %(models)s to %(name)s?",
                "Assign %(n)s %(statuses)s items of %(models)s to %(name)s?",
                preview.count,
            )
            % values
        )
    return (
        ngettext(
            "Release %(n)s %(statuses)s item of %(models)s?",
            "Release %(n)s %(statuses)s items of %(models)s?",
            preview.count,
        )
        % values
    )


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """A lead's bulk assign or release, in two steps: the first post shows how many items
    the action will touch and asks to confirm that number; the second (``confirm`` = that
    number) acts. A filter or field that does not validate changes nothing: 400 naming it."""
    require_role(request, roles.LEAD)
    post = request.POST
    back = safe_next(request, "back", default=reverse("queue:list"))
    form = BulkForm(post)
    page = {"back": back, "form": form}
    if not form.is_valid():
        return render(request, BULK_TEMPLATE, {**page, "errors": page_errors(form)}, status=400)
    d = form.cleaned_data
    action, assignee = d["action"], (d["assignee"] if d["action"] == "assign" else None)
    if d["scope"] == "filter":
        models = models_by_slug()
        filters = QueueFilters.from_query(QueryDict(d["query"]), models=models)
        if filters.errors:
            return render(request, BULK_TEMPLATE, {**page, "errors": filters.errors}, status=400)
        ids = list(
            queue_items(user=request.user, filters=filters, models=models).values_list(
                "id", flat=True
            )[: settings.REVIEW_BULK_LIMIT + 1]
        )
    else:
        ids = d["items"]
    preview = bulk_preview(ids)
    within_limit = 0 < preview.count <= settings.REVIEW_BULK_LIMIT
    if assignee is not None and preview.count:
        # Offer no confirmation for an assignee who cannot take the selection.
        try:
            bulk_assignee_check(assignee=assignee, model_ids=preview.model_ids)
        except ServiceError as exc:
            errors = {_("Assign to"): [service_messages(exc)]}
            return render(request, BULK_TEMPLATE, {**page, "errors": errors}, status=exc.status)
    if within_limit and d["confirm"] != preview.count:
        # First step, or the queue changed since the lead confirmed: ask (again).
        return render(
            request,
            BULK_TEMPLATE,
            {
                **page,
                "preview": preview,
                "question": _bulk_question(action, preview, assignee),
                "changed": d["confirm"] is not None,
                "action": action,
                "scope": d["scope"],
                "query": d["query"],
                "assignee": assignee,
            },
        )
    try:
        # Out of bounds (nothing, or past the limit): the service says why, nothing changes.
        result = review_items_bulk(
            item_ids=preview.ids if within_limit else ids,
            action=action,
            by=request.user,
            assignee=assignee,
        )
    except ServiceError as exc:
        messages.error(request, service_messages(exc))
    else:
        level, text = bulk_outcome(action, result, assignee)
        messages.add_message(request, level, text)
    return redirect(back)


def _skip_reasons(skipped: dict[int, str], limit: int = 5) -> str:
    """The reasons items were skipped, each once with the items it applies to:
    "#12, #14: Item #12 is decided; #15: ..."."""
    by_reason: dict[str, list[int]] = {}
    for item_id, reason in skipped.items():
        by_reason.setdefault(reason, []).append(item_id)
    parts = []
    for reason, item_ids in list(by_reason.items())[:limit]:
        shown = ", ".join(f"#{i}" for i in item_ids[:5]) + (" …" if len(item_ids) > 5 else "")
        parts.append(f"{shown}: {reason}")
    return "; ".join(parts)


def bulk_outcome(action: str, result: Any, assignee: Any) -> tuple[int, str]:
    """The message after a bulk action, its level matching the outcome: success when every
    item was done, a warning naming the skipped ones and why when some were, an error when
    none was."""
    done, skipped = len(result.done), len(result.skipped)
    total = done + skipped
    name = assignee.get_username() if assignee is not None else ""
    if action == "assign":
        done_text = ngettext(
            "%(n)s item assigned to %(name)s.", "%(n)s items assigned to %(name)s.", done
        )
        none_text = ngettext(
            "The item was not assigned to %(name)s.",
            "None of the %(total)s items was assigned to %(name)s.",
            total,
        )
        some_text = ngettext(
            "%(n)s of %(total)s items assigned to %(name)s.",
            "%(n)s of %(total)s items assigned to %(name)s.",
            done,
        )
    else:
        done_text = ngettext(
            "%(n)s item released to the queue.", "%(n)s items released to the queue.", done
        )
        none_text = ngettext(
            "The item was not released.", "None of the %(total)s items was released.", total
        )
        some_text = ngettext(
            "%(n)s of %(total)s items released to the queue.",
            "%(n)s of %(total)s items released to the queue.",
            done,
        )
    values = {"n": done, "total": total, "name": name}
    if not skipped:
        return messages.SUCCESS, done_text % values
    why = ngettext("%(k)s skipped: %(why)s", "%(k)s skipped: %(why)s", skipped) % {
        "k": skipped,
        "why": _skip_reasons(result.skipped),
    }
    if not done:
        return messages.ERROR, f"{none_text % values} {why}"
    return messages.WARNING, f"{some_text % values} {why}"


BULK_TEMPLATE = "reviewapp/queue/bulk_confirm.html"


@login_required
@require_GET
def escalations(request: HttpRequest) -> HttpResponse:
    require_role(request, roles.LEAD)
    items = list(
        review_items_visible_to(request.user, ReviewItem.objects.filter(status=S.ESCALATED))
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
        {"rows": rows, "now": clock.now(), "near_seconds": settings.REVIEW_SLA_NEAR_SECONDS},
    )


@login_required
def pools(request: HttpRequest) -> HttpResponse:
    require_role(request, roles.LEAD, roles.REVIEWER, roles.ENGINEER)
    is_lead = roles.has_role(request.user, roles.LEAD)
    if request.method == "POST":
        if not is_lead:
            raise RoleRequired(_("Only leads change who is in a pool."), roles=[roles.LEAD])
        model = get_object_or_404(MLModel, slug=request.POST.get("model", ""))
        form = PoolMemberForm(request.POST)
        if not form.is_valid():
            messages.error(request, form_messages(form))
            return redirect("queue:pools")
        user = form.cleaned_data["user"]
        try:
            if form.cleaned_data["op"] == "remove":
                pool_member_remove(model=model, user=user, by=request.user)
                messages.success(
                    request,
                    _("%(u)s removed from the %(m)s pool.")
                    % {"u": user.get_username(), "m": model.slug},
                )
            else:
                pool_member_add(model=model, user=user, by=request.user)
                messages.success(
                    request,
                    _("%(u)s added to the %(m)s pool.")
                    % {"u": user.get_username(), "m": model.slug},
                )
        except ServiceError as exc:
            messages.error(request, service_messages(exc))
        return redirect("queue:pools")
    return render(
        request,
        "reviewapp/queue/pools.html",
        {"pools": pools_overview(), "is_lead": is_lead, "people": list(assignable_users())},
    )


@login_required
def guideline(request: HttpRequest, slug: str) -> HttpResponse:
    require_role(request, roles.LEAD, roles.REVIEWER, roles.ENGINEER)
    model = get_object_or_404(MLModel, slug=slug)
    is_lead = roles.has_role(request.user, roles.LEAD)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not is_lead:
            raise RoleRequired(_("Only leads publish guidelines."), roles=[roles.LEAD])
        form = GuidelineForm(request.POST)
        if form.is_valid():
            try:
                version = guideline_publish(
                    model=model,
                    body=form.cleaned_data["body"],
                    note=form.cleaned_data["note"],
                    by=request.user,
                )
                messages.success(request, _("Guideline v%(v)s published.") % {"v": version.version})
                return redirect("queue:guideline", slug)
            except ServiceError as exc:
                form.add_service_errors(exc)
        errors = page_errors(form)
    versions = list(model.guideline_versions.select_related("created_by").order_by("-version")[:50])
    shown = versions[0] if versions else None
    wanted = int_or_none(request.GET.get("v"), minimum=1)
    if wanted is not None:
        shown = next((v for v in versions if v.version == wanted), shown)
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
