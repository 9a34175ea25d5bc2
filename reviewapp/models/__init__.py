"""Models of the queue app, one module per area; everything is importable from here."""

from .ingest import (
    OPEN_STATUSES,
    Criticality,
    MLModel,
    Prediction,
    RejectedEnvelope,
    ReviewItem,
    ServiceAccount,
)
from .review import Decision, GuidelineVersion, PoolMembership, QueueCountSnapshot

__all__ = [
    "OPEN_STATUSES",
    "Criticality",
    "Decision",
    "GuidelineVersion",
    "MLModel",
    "PoolMembership",
    "Prediction",
    "QueueCountSnapshot",
    "RejectedEnvelope",
    "ReviewItem",
    "ServiceAccount",
]
