"""The gold pages: the gold set (/quality/gold/: leads, engineers, the committee read; leads
retire), and "Mark as gold" for a decided item (leads), offered on the item's page through the
queue's ``queue.item_actions`` hook. Thin: one selector or one service call each."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reviewapp.core import roles
from reviewapp.core.exceptions import RoleRequired, ServiceError
from reviewapp.core.forms import NormalizedTextMixin
from reviewapp.core.params import ParamError, parse_int
from reviewapp.core.redirects import safe_next
from reviewapp.models import MLModel, ReviewItem

from ..selectors import gold as sel
from ..services import gold as svc

PAGE_SIZE = 50
READERS = (roles.LEAD, roles.ENGINEER, roles.COMMITTEE)


def _require_reader(request: HttpRequest) -> None:
    if not svc.may_read_gold(request.user):
        raise RoleRequired(roles=READERS)


def _require_lead(request: HttpRequest) -> None:
    if not svc.may_mark_gold(request.user):
        raise RoleRequired(roles=(roles.LEAD,))


def item_actions(*, item_ids: list[int] | None, user: Any) -> list[dict[str, Any]]:
    """``queue.item_actions`` on one item's page, for leads: "Gold item #N" when its prediction
    is gold, else "Mark as gold" when the item is decided and may be a source. Nothing on the
    queue list's bulk bar, nothing for anyone else (a reviewer must not learn what is gold)."""
    if not item_ids or len(item_ids) != 1 or not svc.may_mark_gold(user):
        return []
    gold = sel.gold_of_item(item_ids[0])
    if gold is not None:
        url = reverse("quality:gold-list") + f"?retired=all&id={gold.pk}#gold-{gold.pk}"
        return [{"label": _("Gold item #%(n)s") % {"n": gold.pk}, "url": url}]
    item = ReviewItem.objects.filter(pk=item_ids[0]).values("status", "purpose").first()
    if (
        item is None
        or item["status"] != ReviewItem.Status.DECIDED
        or item["purpose"] in svc.NOT_SOURCES
    ):
        return []
    return [{"label": _("Mark as gold"), "url": reverse("quality:gold-mark", args=[item_ids[0]])}]


# --- the gold set -------------------------------------------------------------------------


def _filters(request: HttpRequest) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    chosen: dict[str, Any] = {"model": None, "adversarial": "", "retired": "active", "id": None}
    slug = request.GET.get("model", "").strip()
    if slug:
        chosen["model"] = MLModel.objects.filter(slug=slug).first()
        if chosen["model"] is None:
            errors["model"] = _("No model %(slug)s.") % {"slug": slug}
    adversarial = request.GET.get("adversarial", "").strip()
    if adversarial and adversarial not in sel.YES_NO:
        errors["adversarial"] = _("Use yes or no.")
    else:
        chosen["adversarial"] = adversarial
    retired = request.GET.get("retired", "").strip() or "active"
    if retired not in sel.RETIRED_CHOICES:
        errors["retired"] = _("Use active, retired or all.")
    else:
        chosen["retired"] = retired
    if request.GET.get("id", "").strip():
        try:
            chosen["id"] = parse_int(request.GET["id"], name="id", minimum=1)
        except ParamError as exc:
            errors["id"] = exc.message
    return chosen, errors


@login_required
@require_GET
def gold_list(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    chosen, errors = _filters(request)
    model = chosen["model"]
    model_id = model.pk if model is not None else None
    adversarial = {"yes": True, "no": False}.get(chosen["adversarial"])
    qs = sel.gold_list(model_id=model_id, adversarial=adversarial, retired=chosen["retired"])
    if chosen["id"]:
        qs = qs.filter(pk=chosen["id"])
    try:
        number = parse_int(request.GET.get("page"), name="page", minimum=1, default=1)
    except ParamError as exc:
        errors["page"] = exc.message
        number = 1
    page = Paginator(qs, PAGE_SIZE).get_page(number)
    rows = [{"gold": g, "accuracy": sel.accuracy(g)} for g in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "chosen": chosen,
        "errors": errors,
        "counts": sel.gold_counts(model_id=model_id),
        "models": sel.models_with_gold(),
        "can_retire": svc.may_mark_gold(request.user),
        "back": request.get_full_path(),
    }
    return render(request, "quality/gold_list.html", context, status=400 if errors else 200)


@login_required
@require_POST
def gold_retire(request: HttpRequest, gold_id: int) -> HttpResponse:
    _require_lead(request)
    back = safe_next(request, "back", default=reverse("quality:gold-list"))
    try:
        gold = svc.gold_retire(
            gold_id=gold_id, reason=request.POST.get("reason", ""), user=request.user
        )
    except ServiceError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from exc
        messages.error(request, " ".join(m for ms in exc.errors.values() for m in ms))
        return redirect(back)
    messages.success(request, _("Gold item #%(n)s retired: it is served no more.") % {"n": gold.pk})
    return redirect(back)


# --- marking ------------------------------------------------------------------------------


class MarkGoldForm(NormalizedTextMixin, forms.Form):
    label = forms.ChoiceField(label=gettext_lazy("Correct answer"))
    rationale = forms.CharField(
        label=gettext_lazy("Rationale"),
        required=False,
        max_length=svc.RATIONALE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Required when the answer differs from the decision."),
    )

    def __init__(self, *args: Any, labels: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [(label, label) for label in labels]


@login_required
@require_http_methods(["GET", "POST"])
def gold_mark(request: HttpRequest, item_id: int) -> HttpResponse:
    _require_lead(request)
    item = ReviewItem.objects.select_related("model", "prediction").filter(pk=item_id).first()
    if item is None:
        raise Http404(_("No such review item."))
    existing = sel.gold_of_item(item.pk)
    decision = svc.final_decision_of(item)
    labels = list(item.model.labels or [])
    initial = {"label": decision.final_label if decision else ""}
    form = MarkGoldForm(request.POST or None, labels=labels, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            gold = svc.gold_mark(
                item_id=item.pk,
                label=form.cleaned_data["label"],
                rationale=form.cleaned_data["rationale"],
                user=request.user,
            )
        except ServiceError as exc:
            for field, problems in exc.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
            status = exc.status
        else:
            messages.success(
                request,
                _("Gold item #%(n)s: it will be served, unmarked, to reviewers of %(m)s.")
                % {"n": gold.pk, "m": item.model.slug},
            )
            return redirect("queue:item", item.pk)
    elif request.method == "POST":
        status = 400
    context = {
        "item": item,
        "prediction": item.prediction,
        "decision": decision,
        "existing": existing,
        "form": form,
        "may_mark": (
            existing is None
            and decision is not None
            and item.status == ReviewItem.Status.DECIDED
            and item.purpose not in svc.NOT_SOURCES
        ),
    }
    return render(request, "quality/gold_mark.html", context, status=status)
