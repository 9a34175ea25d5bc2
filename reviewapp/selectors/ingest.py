"""Reads of the queue app: querysets with their joins applied, and API representations."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse

from reviewapp.core.time import iso_utc
from reviewapp.models import MLModel, Prediction, ServiceAccount
from reviewapp.models.ingest import PAYLOAD_DEFAULTS
from reviewapp.selectors.visibility import predictions_visible_to

PAYLOAD_FIELDS = tuple(PAYLOAD_DEFAULTS)


def payload_value(prediction: Prediction, name: str) -> Any:
    """A payload field as the API shows it: null once the retention policy removed it."""
    return None if prediction.payload_removed_at is not None else getattr(prediction, name)


def predictions_with_routing() -> QuerySet[Prediction]:
    """With the payload's values in the same query (the side table, one probe per row)."""
    return (
        Prediction.objects.select_related("model", "policy_version")
        .prefetch_related("review_items")
        .with_payload_values(*PAYLOAD_FIELDS)
    )


def prediction_for_replay(principal: Any, *, pk: int) -> Prediction | None:
    """The prediction if the caller may read it (the rule of ``GET /predictions/{id}``), with
    what replay reads and without the raw envelope, which replay never needs; else None."""
    qs = Prediction.objects.select_related("model")
    return predictions_visible_to(principal, qs).filter(pk=pk).first()


def models_visible_to(account: ServiceAccount | None) -> QuerySet[MLModel]:
    """The models list's rule: a service token reads the models it may send for; a person
    allowed to read predictions reads every registered model (names, labels, criticality and
    mode are no secret inside the organisation; the records stay behind ``visibility``)."""
    qs = MLModel.objects.all()
    if account is not None and not account.all_models:
        qs = qs.filter(service_accounts=account)
    return qs.order_by("slug")


def model_list_representation(model: MLModel) -> dict[str, Any]:
    """A model as ``GET /api/v1/models`` lists it (``GET /api/v1/models/{slug}`` adds its
    mode and monitors)."""
    return {
        "slug": model.slug,
        "name": model.name,
        "owner_team": model.owner_team,
        "criticality": model.criticality,
        "labels": model.labels,
        "strict_output": model.strict_output,
    }


def prediction_representation(prediction: Prediction, request: Any = None) -> dict[str, Any]:
    """The record a producer reads back: what it sent, how it was routed, its review item.

    With a request, ``url`` is absolute, as in the 202 answer to the POST that created it."""
    policy = prediction.policy_version
    url = reverse("api:prediction-detail", args=[prediction.pk])
    routed = prediction.routed
    item = getattr(prediction, "review_item", None) if routed else None
    return {
        "id": prediction.pk,
        "url": request.build_absolute_uri(url) if request is not None else url,
        "model": prediction.model.slug,
        "model_version": prediction.model_version,
        "external_id": prediction.external_id,
        "status": prediction.status,
        # All four are null once the model's retention policy removed the payload
        # (``payload_removed_at`` says when); the routing record below stays.
        "input": payload_value(prediction, "input"),
        "output": payload_value(prediction, "output"),
        "confidence": prediction.confidence,
        "signals": payload_value(prediction, "signals"),
        "lineage": payload_value(prediction, "lineage"),
        "payload_removed_at": iso_utc(prediction.payload_removed_at),
        "occurred_at": iso_utc(prediction.occurred_at),
        "received_at": iso_utc(prediction.received_at),
        # The model's operating mode when the prediction was accepted (the ingest answer's).
        "model_mode": prediction.mode_at_receipt,
        "routing": None
        if routed is None
        else {
            "routed": routed,
            # The mode it was actually routed under (authoritative; rows routed before modes
            # existed were routed as normal).
            "mode": prediction.routing_mode or "normal",
            "reason_codes": prediction.reason_codes,
            "threshold": prediction.threshold,
            "policy_version": policy.version if policy else None,
            "policy_hash": prediction.policy_hash or None,
            "fallback": prediction.fallback,
            "routed_at": iso_utc(prediction.routed_at),
        },
        "review_item": None
        if item is None
        else {
            "id": item.pk,
            "status": item.status,
            "priority": item.priority,
            "sla_due_at": iso_utc(item.sla_due_at),
            "decided_at": iso_utc(item.decided_at),
        },
    }
