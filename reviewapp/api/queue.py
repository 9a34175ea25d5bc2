"""Queue API: list and filter items, claim the next one, decide, so a team can build its own
reviewer front end. Same services and rules as the HTML pages; errors are
``{"errors": {"field": ["message"]}}`` with 400/403/404/409 as HTTP intends."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.api.permissions import CanReadQueue, CanReview
from reviewapp.core.api import StrictInputSerializer, error_response, id_field
from reviewapp.core.exceptions import NotFound
from reviewapp.core.time import iso_utc, parse_when
from reviewapp.models import Decision, MLModel, ReviewItem
from reviewapp.selectors.blind import shown_ids, shown_reason_codes
from reviewapp.selectors.context import review_context, review_item_for_page
from reviewapp.selectors.ingest import payload_value
from reviewapp.selectors.queue import QueueFilters, page_of, queue_items
from reviewapp.services.claims import review_item_claim_next, review_item_release, review_item_renew
from reviewapp.services.decisions import LABEL, decision_undo, review_item_decide


def item_representation(
    item: ReviewItem, *, detail: bool = False, viewer: Any = None
) -> dict[str, Any]:
    """The item as ``viewer`` may see it: a blind item (gold, qualification, second review)
    shows what a live item would (docs/quality/blind.md), and the producer's ids are null for
    reviewers on every item. A masked item (``suggestion_masked``) has the same keys with the
    model's answer left out (label, confidence, threshold, margin, output: null; reasons
    without numbers or labels; no similar decisions): the client asks for a label."""
    p = item.prediction
    masked = item.suggestion_masked
    prediction_id, external_id = shown_ids(item, viewer=viewer)
    out: dict[str, Any] = {
        "id": item.pk,
        "model": item.model.slug,
        "status": item.status,
        "priority": item.priority,
        "sla_due_at": iso_utc(item.sla_due_at),
        "sla_breached_at": iso_utc(item.sla_breached_at),
        "claimed_by": item.claimed_by.get_username() if item.claimed_by_id else None,
        "claim_expires_at": iso_utc(item.claim_expires_at),
        "claim_generation": item.claim_generation,
        "defer_count": item.defer_count,
        "wake_at": iso_utc(item.wake_at),
        "suggestion_masked": masked,
        "prediction": {
            "id": prediction_id,
            "external_id": external_id,
            "label": None if masked else p.label,
            "confidence": None if masked else p.confidence,
            "reason_codes": shown_reason_codes(item, viewer=viewer),
            "threshold": None if masked else p.threshold,
        },
    }
    if detail:
        ctx = review_context(item, viewer=viewer)
        policy = p.policy_version
        out.update(
            {
                "labels": item.model.labels,
                "reasons": ctx.reasons,
                "margin": ctx.margin,
                "input": payload_value(p, "input"),
                "output": None if masked else payload_value(p, "output"),
                "signals": payload_value(p, "signals"),
                "lineage": payload_value(p, "lineage"),
                # Set once the model's retention policy removed the payload (then the four
                # fields above are null).
                "payload_removed_at": iso_utc(p.payload_removed_at),
                # A blind item shows the model's current version (selectors.blind).
                "model_version": ctx.shown.model_version,
                "policy": {"version": policy.version, "hash": p.policy_hash} if policy else None,
                "guideline_version": ctx.guideline.pk if ctx.guideline else None,
                "similar_decisions": [
                    {
                        "item": d.item_id,
                        "confidence": d.model_confidence,
                        "action": d.action,
                        "final_label": d.final_label,
                    }
                    for d in ctx.similar
                ],
            }
        )
    return out


def decision_representation(d: Decision) -> dict[str, Any]:
    return {
        "id": d.pk,
        "item": d.item_id,
        "action": d.action,
        "predicted_label": d.predicted_label,
        "final_label": d.final_label or None,
        "reason": d.reason,
        "note": d.note,
        "failure_mode_tags": d.failure_mode_tags,
        "decided_at": iso_utc(d.decided_at),
        "deliver_after": iso_utc(d.deliver_after),
        "undone_at": iso_utc(d.undone_at),
    }


# --- Response shapes, for the OpenAPI schema (the views build plain dicts) ---------------------
class _PredictionSummaryOut(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True,
        help_text="The prediction's id; null for reviewers (leads, engineers "
        "and the committee see it), so review items all look alike.",
    )
    external_id = serializers.CharField(
        allow_null=True, help_text="The producer's id; null for reviewers, like ``id``."
    )
    label = serializers.CharField(allow_null=True, help_text="null on a masked item.")
    confidence = serializers.FloatField(allow_null=True, help_text="null on a masked item.")
    reason_codes = serializers.ListField(child=serializers.CharField())
    threshold = serializers.FloatField(allow_null=True)


class QueueItemOut(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(help_text="Model slug.")
    status = serializers.CharField()
    priority = serializers.IntegerField()
    sla_due_at = serializers.DateTimeField(allow_null=True)
    sla_breached_at = serializers.DateTimeField(allow_null=True)
    claimed_by = serializers.CharField(allow_null=True)
    claim_expires_at = serializers.DateTimeField(allow_null=True)
    claim_generation = serializers.IntegerField(
        help_text="Send it back when deciding, releasing or renewing; a stale one gets 409."
    )
    defer_count = serializers.IntegerField()
    wake_at = serializers.DateTimeField(allow_null=True)
    suggestion_masked = serializers.BooleanField(
        help_text="The model's answer is hidden: decide with action `label` and your label."
    )
    prediction = _PredictionSummaryOut()


class _SimilarDecisionOut(serializers.Serializer):
    item = serializers.IntegerField()
    confidence = serializers.FloatField()
    action = serializers.CharField()
    final_label = serializers.CharField()


class QueueItemDetailOut(QueueItemOut):
    labels = serializers.ListField(child=serializers.CharField())
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Plain words.")
    margin = serializers.FloatField(allow_null=True)
    input = serializers.JSONField(allow_null=True, help_text="null once the payload is removed.")
    output = serializers.JSONField(
        allow_null=True, help_text="null on a masked item, or once the payload is removed."
    )
    signals = serializers.JSONField(allow_null=True)
    lineage = serializers.JSONField(allow_null=True)
    payload_removed_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the model's payload retention policy removed input, output, signals "
        "and lineage (null: kept).",
    )
    model_version = serializers.CharField()
    policy = inline_serializer(
        "QueueItemPolicy",
        {"version": serializers.IntegerField(), "hash": serializers.CharField()},
        allow_null=True,
    )
    guideline_version = serializers.IntegerField(allow_null=True)
    similar_decisions = _SimilarDecisionOut(many=True)


class QueueItemPageOut(serializers.Serializer):
    results = QueueItemOut(many=True)
    page = serializers.IntegerField()
    has_next = serializers.BooleanField()


class DecisionOut(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField()
    action = serializers.CharField()
    predicted_label = serializers.CharField()
    final_label = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    note = serializers.CharField()
    failure_mode_tags = serializers.ListField(child=serializers.CharField())
    decided_at = serializers.DateTimeField()
    deliver_after = serializers.DateTimeField(allow_null=True)
    undone_at = serializers.DateTimeField(allow_null=True)


# The body is core's ErrorResponse, filled in by core.schema's hook.
CONFLICT = OpenApiResponse(description="The claim moved or the item was already decided.")


class GenerationInput(StrictInputSerializer):
    generation = id_field(
        required=False, help_text="claim_generation of the item as you claimed it."
    )


class QueueItemsView(APIView):
    permission_classes = [CanReadQueue]

    @extend_schema(
        summary="List review items",
        operation_id="v1_queue_items_list",
        responses=QueueItemPageOut,
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("model", "status", "priority", "sla", "reason", "assignee", "sort", "page")
        ],
    )
    def get(self, request: Request) -> Response:
        models = {m.slug: m for m in MLModel.objects.all()}
        filters = QueueFilters.from_query(request.query_params, models=models)
        if filters.errors:
            return error_response(filters.errors, 400)
        items, has_next = page_of(
            queue_items(user=request.user, filters=filters, models=models), filters.page
        )
        return Response(
            {
                "results": [item_representation(i, viewer=request.user) for i in items],
                "page": filters.page,
                "has_next": has_next,
            }
        )


class ClaimNextView(APIView):
    permission_classes = [CanReview]

    @extend_schema(
        summary="Claim the next item of your pools (204 when none is waiting)",
        request=None,
        responses={200: QueueItemDetailOut, 204: OpenApiResponse(description="Nothing waiting.")},
    )
    def post(self, request: Request) -> Response:
        item = review_item_claim_next(user=request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        item = review_item_for_page(item.pk)
        return Response(item_representation(item, detail=True, viewer=request.user))


class QueueItemDetailView(APIView):
    permission_classes = [CanReadQueue]

    @extend_schema(summary="One review item with its context summary", responses=QueueItemDetailOut)
    def get(self, request: Request, item_id: int) -> Response:
        item = review_item_for_page(item_id, user=request.user)
        if item is None:
            raise NotFound(f"No review item #{item_id}.", field="item")
        return Response(item_representation(item, detail=True, viewer=request.user))


class DecideInput(StrictInputSerializer):
    action = serializers.ChoiceField(
        choices=[*Decision.Action.values, LABEL],
        help_text="`label`: a masked item only; the service records accept or override.",
    )
    generation = id_field(
        help_text="claim_generation of the item as you claimed it; a stale one gets 409."
    )
    label = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")
    wake_at = serializers.CharField(required=False, allow_blank=True, default="")
    failure_mode_tags = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )
    guideline_version = id_field(required=False, allow_null=True, default=None)


class DecideView(APIView):
    permission_classes = [CanReview]

    @extend_schema(
        summary="Decide an item you hold",
        request=DecideInput,
        responses={201: DecisionOut, 409: CONFLICT},
    )
    def post(self, request: Request, item_id: int) -> Response:
        data = DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        wake_at = None
        if v["wake_at"]:
            wake_at = parse_when(v["wake_at"])
            if wake_at is None:
                return error_response({"wake_at": ["Not an ISO 8601 date-time."]}, 400)
        decision = review_item_decide(
            item_id=item_id,
            user=request.user,
            action=v["action"],
            generation=v["generation"],
            label=v["label"],
            reason=v["reason"],
            note=v["note"],
            wake_at=wake_at,
            failure_mode_tags=v["failure_mode_tags"],
            guideline_version_id=v["guideline_version"],
        )
        return Response(decision_representation(decision), status=status.HTTP_201_CREATED)


class ReleaseView(APIView):
    permission_classes = [CanReview]

    @extend_schema(
        summary="Give back an item you hold (leads: anyone's)",
        request=GenerationInput,
        responses={
            200: inline_serializer(
                "ReleasedItem",
                {"id": serializers.IntegerField(), "status": serializers.CharField()},
            ),
            409: CONFLICT,
        },
    )
    def post(self, request: Request, item_id: int) -> Response:
        data = GenerationInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = review_item_release(
            item_id=item_id, user=request.user, generation=data.validated_data.get("generation")
        )
        return Response({"id": item.pk, "status": item.status})


class RenewView(APIView):
    permission_classes = [CanReview]

    @extend_schema(
        summary="Extend the lease on an item you hold",
        request=GenerationInput,
        responses={
            200: inline_serializer(
                "RenewedLease",
                {"id": serializers.IntegerField(), "claim_expires_at": serializers.DateTimeField()},
            ),
            409: CONFLICT,
        },
    )
    def post(self, request: Request, item_id: int) -> Response:
        data = GenerationInput(data=request.data)
        data.is_valid(raise_exception=True)
        generation = data.validated_data.get("generation")
        if generation is None:
            return error_response({"generation": ["Required: the item's claim_generation."]}, 400)
        item = review_item_renew(item_id=item_id, user=request.user, generation=generation)
        return Response({"id": item.pk, "claim_expires_at": iso_utc(item.claim_expires_at)})


class UndoView(APIView):
    permission_classes = [CanReview]

    @extend_schema(
        summary="Undo your decision within the grace period",
        request=None,
        responses={200: QueueItemOut, 409: CONFLICT},
    )
    def post(self, request: Request, decision_id: int) -> Response:
        item = decision_undo(decision_id=decision_id, user=request.user)
        return Response(item_representation(review_item_for_page(item.pk), viewer=request.user))
