"""The review queue's audit verbs (``queue.``): label of each, and the names they replaced."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "queue."

VERBS = {
    "queue.prediction.ingested": _("Ingested"),
    "queue.prediction.rejected": _("Rejected at ingest"),
    "queue.prediction.routed": _("Routed to review"),
    "queue.prediction.decided": _("Prediction decided"),
    "queue.prediction.reopened": _("Prediction reopened by undo"),
    "queue.review_item.claimed": _("Claimed"),
    "queue.review_item.assigned": _("Assigned"),
    "queue.review_item.released": _("Released"),
    "queue.review_item.lease_expired": _("Lease expired, back in queue"),
    "queue.review_item.lease_renewed": _("Lease renewed (page still open)"),
    "queue.review_item.decided": _("Decided"),
    "queue.review_item.escalated": _("Escalated"),
    "queue.review_item.deferred": _("Deferred"),
    "queue.review_item.woken": _("Back in queue after deferral"),
    "queue.review_item.reopened": _("Reopened by undo"),
    "queue.review_item.sla_breached": _("SLA breached"),
    "queue.review_item.sla_warned": _("Priority raised: SLA near"),
    "queue.decision.undone": _("Decision undone"),
    "queue.guideline.published": _("Guideline published"),
    "queue.ml_model.settings_applied": _("Model settings applied (change request)"),
    "queue.ml_model.presentation_changed": _("How the model's inputs are presented changed"),
    "queue.pool.member_added": _("Added to a pool"),
    "queue.pool.member_removed": _("Removed from a pool"),
    "queue.service_account.created": _("Service account created"),
    "queue.payload_partition.created": _("Payload partitions created ahead"),
    "queue.prediction_payload.removed": _("Payloads removed by the retention policy"),
    "queue.service_account.token_rotated": _("Service token rotated"),
    "queue.service_account.token_revoked": _("Service token revoked"),
}

# Names that events already in the log carry (before the <app>.<entity>.<participle> rename).
LEGACY = {
    "prediction.ingested": "queue.prediction.ingested",
    "prediction.rejected": "queue.prediction.rejected",
    "prediction.routed": "queue.prediction.routed",
    "review_item.claimed": "queue.review_item.claimed",
    "review_item.assigned": "queue.review_item.assigned",
    "review_item.released": "queue.review_item.released",
    "review_item.lease_expired": "queue.review_item.lease_expired",
    "review_item.decided": "queue.review_item.decided",
    "review_item.escalated": "queue.review_item.escalated",
    "review_item.deferred": "queue.review_item.deferred",
    "review_item.woke": "queue.review_item.woken",
    "review_item.reopened": "queue.review_item.reopened",
    "review_item.sla_breached": "queue.review_item.sla_breached",
    "review_item.sla_near": "queue.review_item.sla_warned",
    "decision.undone": "queue.decision.undone",
    "guideline.published": "queue.guideline.published",
    "pool.member_added": "queue.pool.member_added",
    "pool.member_removed": "queue.pool.member_removed",
    "service_account.created": "queue.service_account.created",
    "service_account.token_rotated": "queue.service_account.token_rotated",
    "service_account.token_revoked": "queue.service_account.token_revoked",
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS, legacy=LEGACY)
