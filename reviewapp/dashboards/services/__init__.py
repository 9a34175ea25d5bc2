"""Writes for the dashboards: the fold that keeps the rollups, and what maintains them.

By area: ``fold`` (reading new rows from the watermark into one batch per transaction),
``batch`` (the increments a batch adds up, and which review items count at all), ``writes``
(the upserts that add a batch to the stored rows), ``metrics`` (the 5-minute buckets' open-queue
samples and pruning), ``rebuild`` (starting the rollups over). This package re-exports their
public names, so callers import from here.
"""

from .batch import UNCOUNTED_PURPOSES, Delta, FineDelta, counted_items
from .fold import FOLDER, WATERMARK, FoldResult, bucket_minutes, rollups_fold, watermark_get
from .metrics import metric_buckets_prune, metrics_retention
from .rebuild import rollups_rebuild

__all__ = [
    "Delta",
    "FOLDER",
    "FineDelta",
    "FoldResult",
    "UNCOUNTED_PURPOSES",
    "WATERMARK",
    "bucket_minutes",
    "counted_items",
    "metric_buckets_prune",
    "metrics_retention",
    "rollups_fold",
    "rollups_rebuild",
    "watermark_get",
]
