"""Models of the queue app, one module per area; everything is importable from here."""

from .ingest import (
    Criticality,
    MLModel,
    Prediction,
    RejectedEnvelope,
    ServiceAccount,
)
from .review import (
    OPEN_STATUSES,
    Decision,
    GuidelineVersion,
    PoolMembership,
    QueueCountSnapshot,
    ReviewItem,
)

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
