"""Decision feed and label export for producers (service tokens) and leads / engineers."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core import roles
from reviewapp.core.api import error_response
from reviewapp.core.params import ParamError, int_or_none, parse_int
from reviewapp.models import MLModel
from reviewapp.selectors.visibility import decisions_visible_to, visible_model_ids

from .export import export_queryset, export_response
from .forms import ExportFilterForm
from .selectors import (
    AGREEMENTS,
    SELECTIONS,
    decision_representation,
    feed_after,
    feed_position,
    label_annotations,
    producer_decisions,
)

FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 500
# d1:<decision id> (before decisions could be held and released late; still accepted) and
# d2:<release time in UTC microseconds since the epoch>:<decision id>, the feed's order.
_CURSOR_PREFIX = "d1:"
_CURSOR_PREFIX_V2 = "d2:"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _micros(moment: dt.datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_MAX_MICROS = _micros(dt.datetime(9999, 12, 31, tzinfo=dt.UTC))


def encode_cursor(decision_id: int, released_at: dt.datetime | None = None) -> str:
    """The position after ``decision_id``; with ``released_at`` (its place in the feed's
    order, ``selectors.feed_ordered``) the current form, without it the old id-only form."""
    if released_at is None:
        raw = f"{_CURSOR_PREFIX}{decision_id}"
    else:
        raw = f"{_CURSOR_PREFIX_V2}{_micros(released_at)}:{decision_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime | None, int]:
    """(release time, decision id) a cursor stands for; the time is None for an old id-only
    cursor (the caller looks the decision's position up). ValueError if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(cursor) from None
    if raw.startswith(_CURSOR_PREFIX):
        decision_id = int_or_none(raw.removeprefix(_CURSOR_PREFIX))
        if decision_id is None:
            raise ValueError(cursor)
        return None, decision_id
    if raw.startswith(_CURSOR_PREFIX_V2):
        micros, _sep, pk = raw.removeprefix(_CURSOR_PREFIX_V2).partition(":")
        micros_n, decision_id = int_or_none(micros, maximum=_MAX_MICROS), int_or_none(pk)
        if micros_n is None or decision_id is None:
            raise ValueError(cursor)
        return _EPOCH + dt.timedelta(microseconds=micros_n), decision_id
    raise ValueError(cursor)


class CanReadDecisions(BasePermission):
    """Producers with a service token (their own models), and signed-in leads or engineers."""

    message = "Only a service token, a lead or an engineer may read decisions."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if getattr(user, "is_service", False):
            return True
        return roles.has_role(user, roles.LEAD, roles.ENGINEER)


def _scope(request) -> set[int] | None:
    """The model ids the caller may read, or None for all (the queue's one visibility rule)."""
    return visible_model_ids(request.user)


class IgnoreFormatNegotiation(BaseContentNegotiation):
    """The export's `format` parameter names the file format, not a DRF renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


ERRORS = inline_serializer(
    "DeliveryErrors",
    {"errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
)
FEED_ITEM = inline_serializer(
    "FeedDecision",
    {
        "type": serializers.ChoiceField(
            ["decision.made", "decision.corrected"],
            help_text="decision.corrected: a human overturned a prediction that had passed.",
        ),
        "purpose": serializers.ChoiceField(
            ["routed", "shift_sample", "incident_recheck"],
            help_text="Why the item was reviewed: routed, or a check of what had passed.",
        ),
        "decision_id": serializers.IntegerField(),
        "item_id": serializers.IntegerField(),
        "prediction_id": serializers.IntegerField(),
        "model": serializers.SlugField(),
        "model_version": serializers.CharField(),
        "external_id": serializers.CharField(),
        "model_label": serializers.CharField(),
        "model_confidence": serializers.FloatField(),
        "action": serializers.ChoiceField(["accept", "override"]),
        "outcome": serializers.ChoiceField(["accepted", "overridden", "corrected"]),
        "final_label": serializers.CharField(),
        "final_output": serializers.JSONField(allow_null=True),
        "reason": serializers.CharField(),
        "failure_mode_tags": serializers.ListField(child=serializers.CharField()),
        "reviewer": serializers.CharField(),
        "decided_at": serializers.DateTimeField(),
        "policy_version": serializers.IntegerField(allow_null=True),
        "policy_hash": serializers.CharField(allow_null=True),
        # --- labels (review quality): how far to trust the label, why it was reviewed ---
        "routing_reason": serializers.ListField(
            child=serializers.CharField(),
            help_text="The prediction's routing reason codes (low_confidence, qa_sample, ...).",
        ),
        "selection": serializers.ChoiceField(
            list(SELECTIONS),
            help_text=(
                "How the prediction came to be reviewed; qa_sample is a random sample of "
                "confident predictions (unbiased), the others are selected."
            ),
        ),
        "double_reviewed": serializers.BooleanField(
            help_text="A blind second reviewer decided it too."
        ),
        "adjudicated": serializers.BooleanField(
            help_text="The two reviews disagreed and a lead decided the final label."
        ),
        "agreement": serializers.ChoiceField(
            list(AGREEMENTS),
            allow_null=True,
            help_text="Whether the two reviews agreed; null for a single review.",
        ),
        "reviewer_gold_accuracy": serializers.FloatField(
            allow_null=True,
            help_text=(
                "The deciding reviewer's share of correct gold answers on this model before "
                "the decision; null when they had none."
            ),
        ),
        "reviewer_gold_n": serializers.IntegerField(
            help_text="How many scored gold answers that share is drawn from."
        ),
    },
)
FEED_PAGE = inline_serializer(
    "DecisionFeedPage",
    {
        "results": FEED_ITEM.__class__(many=True),
        "next": serializers.CharField(
            allow_null=True, help_text="Pass as `after` next time (also when no results came)."
        ),
        "has_more": serializers.BooleanField(),
    },
)


class DecisionFeedView(APIView):
    permission_classes = [CanReadDecisions]

    @extend_schema(
        operation_id="decisions_feed",
        summary="Final decisions, oldest first, for producers that poll instead of webhooks",
        description=(
            "Accepted and overridden decisions whose undo grace period has passed, in the "
            "order they were released (a decision held for a blind second review comes when it "
            "is released): the decisions on routed items (`decision.made`) and the corrections of "
            "predictions that had passed (`decision.corrected`), the same events the webhook "
            "sends. Start without `after`, then pass the `next` cursor of each answer. A token "
            "sees only the models it is allowed for."
        ),
        parameters=[
            OpenApiParameter("after", str, description="Opaque cursor from a previous `next`."),
            OpenApiParameter("model", str, description="Only this model (slug)."),
            OpenApiParameter(
                "limit", int, description=f"1-{FEED_MAX_LIMIT}, default {FEED_DEFAULT_LIMIT}."
            ),
        ],
        responses={200: FEED_PAGE, 400: ERRORS, 403: ERRORS},
    )
    def get(self, request):
        params = request.query_params
        errors: dict[str, list[str]] = {}
        after: tuple[dt.datetime, int] | None = None
        if params.get("after"):
            try:
                released_at, after_id = decode_cursor(params["after"])
                # An old id-only cursor: that decision's place in the order.
                after = (
                    (released_at, after_id)
                    if released_at is not None
                    else feed_position(decision_id=after_id)
                )
            except ValueError:
                errors["after"] = ["Not a cursor returned by this feed: pass a `next` value."]
        limit = FEED_DEFAULT_LIMIT
        try:
            limit = parse_int(
                params.get("limit"), name="limit", minimum=1, maximum=FEED_MAX_LIMIT, default=limit
            )
        except ParamError as exc:
            errors.update(exc.errors)
        scope = _scope(request)
        qs = feed_after(decisions_visible_to(request.user, producer_decisions()), after=after)
        if params.get("model"):
            model = MLModel.objects.filter(slug=params["model"]).only("id").first()
            if model is None:
                errors["model"] = [f"Unknown model '{params['model']}'."]
            elif scope is not None and model.pk not in scope:
                return error_response(
                    {"model": [f"This token may not read decisions of '{params['model']}'."]}, 403
                )
            else:
                qs = qs.filter(model_id=model.pk)
        if errors:
            return error_response(errors, 400)
        rows = list(qs[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            encode_cursor(rows[-1].pk, rows[-1].released_at)
            if rows
            else (params.get("after") or None)
        )
        annotations = label_annotations(rows)
        return Response(
            {
                "results": [
                    decision_representation(d, annotations=annotations[d.pk]) for d in rows
                ],
                "next": next_cursor,
                "has_more": has_more,
            }
        )


class DecisionExportView(APIView):
    permission_classes = [CanReadDecisions]
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(
        operation_id="decisions_export",
        summary="Reviewed items as labels, streamed as JSON Lines or CSV",
        description=(
            "One row per standing final decision that is a label (routed items, shift and "
            "halted-model samples, incident rechecks; never gold, qualification or second "
            "reviews): the prediction's input and output, the final label, the outcome "
            "(`corrected`: an override of a prediction that had passed), the reviewer, when, the "
            "policy version that routed it and the item's purpose."
        ),
        parameters=[
            OpenApiParameter("format", str, enum=["jsonl", "csv"], description="Default jsonl."),
            OpenApiParameter("model", str, description="Model slug."),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Decided at or after."),
            OpenApiParameter(
                "until",
                OpenApiTypes.DATETIME,
                description="Decided before (a date: that day included).",
            ),
            OpenApiParameter("outcome", str, enum=["accepted", "overridden", "corrected"]),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            (400, "application/json"): ERRORS,
            (403, "application/json"): ERRORS,
        },
    )
    def get(self, request):
        scope = _scope(request)
        form = ExportFilterForm(request.query_params, allowed_model_ids=scope)
        if not form.is_valid():
            return error_response(
                {field: [str(m) for m in messages] for field, messages in form.errors.items()},
                400,
            )
        filters = form.cleaned_data
        model = filters.get("model")
        return export_response(
            qs=export_queryset(filters=filters, principal=request.user),
            fmt=filters["format"],
            model_slug=model.slug if model else "",
        )
