"""Pages: delivery log (leads), label export (leads and engineers), callback settings (leads)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from reviewapp.core import roles
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.redirects import safe_next
from reviewapp.models import MLModel
from reviewapp.selectors.visibility import visible_model_ids

from . import selectors, services
from .export import export_queryset, export_response
from .forms import CallbackSettingsForm, ExportFilterForm
from .models import Delivery

PAGE_SIZE = 50


@login_required
@roles.permission_required("delivery.view_delivery")
def delivery_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in Delivery.Status.values:
        status = ""
    model_slug = request.GET.get("model", "")
    models = list(MLModel.objects.order_by("slug").values_list("slug", flat=True))
    if model_slug not in models:
        model_slug = ""
    page = Paginator(
        selectors.deliveries_list(user=request.user, status=status, model_slug=model_slug),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    counts = selectors.delivery_status_counts(user=request.user, model_slug=model_slug)
    query = urlencode({k: v for k, v in (("status", status), ("model", model_slug)) if v})
    return render(
        request,
        "delivery/list.html",
        {
            "page": page,
            "query": query,
            "status": status,
            "model_slug": model_slug,
            "models": models,
            "statuses": [(value, label, counts[value]) for value, label in Delivery.Status.choices],
            "total": sum(counts.values()),
            "retryable": services.RETRYABLE_BY_HAND,
            "can_retry": request.user.has_perm("delivery.retry_delivery"),
        },
    )


@login_required
@roles.permission_required("delivery.view_delivery")
def delivery_item(request: HttpRequest, item_id: int) -> HttpResponse:
    item = selectors.item_for_log(user=request.user, item_id=item_id)
    if item is None:
        raise Http404(_("No such review item."))
    return render(
        request,
        "delivery/item.html",
        {
            "item": item,
            "deliveries": list(selectors.deliveries_for_item(item_id=item_id)),
            "retryable": services.RETRYABLE_BY_HAND,
            "can_retry": request.user.has_perm("delivery.retry_delivery"),
        },
    )


@login_required
@roles.permission_required("delivery.retry_delivery")
@require_POST
def delivery_retry(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        delivery = services.delivery_retry_now(delivery_id=pk, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Delivery %(id)s is queued to be sent again now.") % {"id": delivery.message_id},
        )
    return redirect(safe_next(request, "next", default=reverse("delivery:list")))


@login_required
def export_page(request: HttpRequest) -> HttpResponse:
    roles.require(request.user, roles.LEAD, roles.ENGINEER)
    models = MLModel.objects.order_by("slug").only("slug", "name")
    if "download" not in request.GET:
        form = ExportFilterForm(
            initial={"format": "jsonl"}, allowed_model_ids=visible_model_ids(request.user)
        )
        return render(request, "delivery/export.html", {"form": form, "models": models})
    form = ExportFilterForm(request.GET, allowed_model_ids=visible_model_ids(request.user))
    if not form.is_valid():
        return render(request, "delivery/export.html", {"form": form, "models": models}, status=400)
    filters = form.cleaned_data
    model = filters.get("model")
    return export_response(
        qs=export_queryset(filters=filters, principal=request.user),
        fmt=filters["format"],
        model_slug=model.slug if model else "",
    )


@login_required
@roles.permission_required("reviewapp.configure_callback")
def callback_settings(request: HttpRequest, slug: str) -> HttpResponse:
    model = get_object_or_404(MLModel, slug=slug)
    new_secret = None
    status = 200
    if request.method == "POST":
        form = CallbackSettingsForm(request.POST)
        if form.is_valid():
            try:
                new_secret = services.model_callback_configure(
                    model=model,
                    callback_url=form.cleaned_data["callback_url"],
                    callback_secret=form.cleaned_data["callback_secret"],
                    rotate_secret=form.cleaned_data["rotate_secret"],
                    actor=Actor.user(request.user),
                )
            except ServiceError as exc:
                for field, problems in exc.errors.items():
                    form.add_error(field if field in form.fields else None, problems)
                status = 400
            else:
                model.refresh_from_db()
                messages.success(request, _("Callback settings saved."))
                form = CallbackSettingsForm(initial={"callback_url": model.callback_url})
        else:
            status = 400
    else:
        form = CallbackSettingsForm(initial={"callback_url": model.callback_url})
    return render(
        request,
        "delivery/callback.html",
        {"model": model, "form": form, "new_secret": new_secret},
        status=status,
    )
