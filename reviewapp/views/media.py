"""What the review page needs to show an input a person can judge: the stored image of an
item (served with the item's visibility), and the lead's page that declares how a model's
inputs are presented (reviewapp/presentation.py, docs/presentation.md)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from reviewapp import presentation
from reviewapp.core import roles
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.redirects import safe_next
from reviewapp.forms import PresentationForm
from reviewapp.models import MLModel
from reviewapp.selectors.context import review_item_for_page
from reviewapp.services.presentation import model_presentation_set

from .queue import require_role


@login_required
@require_GET
def item_image(request: HttpRequest, item_id: int) -> HttpResponse:
    """The image stored with the item's prediction, for the people who may open its review
    page (the same role check, then the same visibility: 403, then 404 as for an unknown id).
    Only whitelisted image types, sniffed from the bytes, never the producer's word."""
    require_role(request, roles.REVIEWER, roles.LEAD, roles.ENGINEER)
    item = review_item_for_page(item_id, user=request.user)
    if item is None:
        raise Http404
    declaration = item.model.presentation
    if not isinstance(declaration, dict) or (
        declaration.get("kind") != presentation.IMAGE
        or declaration.get("image_source") != presentation.SOURCE_BYTES
    ):
        raise Http404
    features = item.prediction.input if isinstance(item.prediction.input, dict) else {}
    decoded = presentation.decode_image(
        features.get(declaration.get("image_field", "")),
        max_bytes=settings.INGEST_MAX_BODY_BYTES,
    )
    if isinstance(decoded, str):
        raise Http404
    data, content_type = decoded
    response = HttpResponse(data, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = f'inline; filename="item-{item.pk}"'
    # Private: a shared cache must not hand one reviewer's image to another.
    response["Cache-Control"] = "private, max-age=600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@permission_required("reviewapp.configure_presentation", raise_exception=True)
@require_http_methods(["GET", "POST"])
def model_presentation(request: HttpRequest, slug: str) -> HttpResponse:
    model = get_object_or_404(MLModel, slug=slug)
    status = 200
    back = safe_next(request, "next", default="")
    if request.method == "POST":
        form = PresentationForm(request.POST)
        if form.is_valid():
            try:
                changed = model_presentation_set(
                    model=model, declaration=form.declaration(), actor=Actor.user(request.user)
                )
            except ServiceError as exc:
                form.add_service_errors(exc)
                status = 400
            else:
                messages.success(
                    request,
                    _("Saved: reviewers see the new presentation on their next item.")
                    if changed
                    else _("Nothing changed."),
                )
                return redirect(back or request.path)
        else:
            status = 400
    else:
        form = PresentationForm(initial=PresentationForm.initial_from(model.presentation))
    return render(
        request,
        "reviewapp/queue/presentation.html",
        {"model": model, "form": form, "back": back},
        status=status,
    )
