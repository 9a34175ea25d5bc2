"""Models of the queue app, one module per area; everything is importable from here."""

from .ingest import (
    Criticality,
    MLModel,
    Mode,
    ModelMode,
    Prediction,
    PredictionPayload,
    RejectedEnvelope,
    ServiceAccount,
)
from .review import (
    OPEN_STATUSES,
    PER_REVIEWER_PURPOSES,
    PRIORITY_BANDS,
    QUEUE_ORDER,
    Decision,
    GuidelineVersion,
    PoolMembership,
    Purpose,
    QueueCountSnapshot,
    ReviewItem,
)

__all__ = [
    "OPEN_STATUSES",
    "PRIORITY_BANDS",
    "QUEUE_ORDER",
    "Criticality",
    "Decision",
    "GuidelineVersion",
    "MLModel",
    "Mode",
    "ModelMode",
    "PER_REVIEWER_PURPOSES",
    "PoolMembership",
    "Purpose",
    "Prediction",
    "PredictionPayload",
    "QueueCountSnapshot",
    "RejectedEnvelope",
    "ReviewItem",
    "ServiceAccount",
]
