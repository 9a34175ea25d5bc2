"""Validation of the prediction envelope (the ingestion contract in README.md).

Hand-written rather than a DRF serializer: it runs for every item of a 1,000-item batch on
the hot path, and it must name each bad field by its dotted path. `api.py` keeps a serializer
of the same shape for the OpenAPI schema only; tests check the two agree.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from reviewapp.core.params import safe_text
from reviewapp.core.parsers import (  # noqa: F401 - the envelope's names, kept for callers
    MAX_DEPTH,
    NON_FINITE,
    BodyError,
    NonFinite,
    body_problems,
    parse_json,
)
from reviewapp.governance.rules import top_scores

MAX_EXTERNAL_ID = 200
MAX_MODEL_VERSION = 100
MAX_LABEL = 200
FIELDS = {
    "model",
    "model_version",
    "external_id",
    "input",
    "output",
    "confidence",
    "signals",
    "lineage",
    "occurred_at",
}


UNSTORABLE_TEXT = "Text must not contain NUL characters or unpaired surrogates."


def storable_copy(value: Any, depth: int = 0) -> Any:
    """A copy of a parsed envelope that any database can store, for keeping a rejected one:
    NaN / Infinity become their text, unstorable characters are replaced, depth is capped."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, NonFinite) or (isinstance(value, float) and not math.isfinite(value)):
        return str(value)
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(str(k)): storable_copy(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_copy(v, depth + 1) for v in value]
    return value


def _scan_values(raw: Any) -> list[tuple[str, str]]:
    """(path, problem) for every value no database can store (core.parsers.body_problems)."""
    return body_problems(raw, max_depth=MAX_DEPTH)


def _non_finite(value: Any) -> bool:
    """NaN / Infinity: already reported by the scan, so field checks stay quiet about it."""
    return isinstance(value, NonFinite) or (isinstance(value, float) and not math.isfinite(value))


def _finite_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool | NonFinite):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


@dataclass
class CleanEnvelope:
    model_slug: str
    model_version: str
    external_id: str
    input: dict
    output: dict
    label: str
    confidence: float
    signals: dict
    lineage: dict
    occurred_at: dt.datetime | None
    # ``output.scores`` summarised for routing's label/score check (rules.top_scores); None
    # when no scores were sent.
    top_scores: dict[str, float] | None = None


def validate_envelope(
    raw: Any, *, labels_for: dict[str, list[str]], check_non_finite: bool = True
) -> tuple[CleanEnvelope | None, dict[str, list[str]], int]:
    """Returns (clean, errors, status). ``labels_for`` maps each known model slug to its labels.

    Status is 400 for bad fields, 404 when the model is unknown (its label set then cannot be
    checked). Permission (403) is the caller's concern: it knows the service account.
    """
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(path, []).append(message)

    if not isinstance(raw, dict):
        return None, {"body": ["Must be a JSON object."]}, 400
    if check_non_finite:
        for path, problem in _scan_values(raw):
            add(path, problem)

    for key in sorted(set(raw) - FIELDS):
        add(str(key), "Unknown field.")

    slug = raw.get("model")
    status = 400
    labels: list[str] | None = None
    if not isinstance(slug, str) or not slug:
        add("model", "Required: the slug of a registered model.")
    elif slug not in labels_for:
        add("model", f"Unknown model '{slug[:100]}'. GET /api/v1/models lists the registered ones.")
        status = 404
    else:
        labels = labels_for[slug]

    version = raw.get("model_version")
    if not isinstance(version, str) or not version.strip():
        add("model_version", "Required: a non-empty string.")
    elif len(version) > MAX_MODEL_VERSION:
        add("model_version", f"At most {MAX_MODEL_VERSION} characters.")

    external_id = raw.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip():
        add("external_id", "Required: a non-empty string, unique per model.")
    elif len(external_id) > MAX_EXTERNAL_ID:
        add("external_id", f"At most {MAX_EXTERNAL_ID} characters.")

    if "input" not in raw:
        add("input", "Required: a JSON object of the features as the model saw them.")
    elif not isinstance(raw["input"], dict):
        add("input", "Must be a JSON object.")

    output = raw.get("output")
    label = None
    if output is None:
        add("output", "Required: a JSON object with at least a label.")
    elif not isinstance(output, dict):
        add("output", "Must be a JSON object.")
    else:
        label = output.get("label")
        if not isinstance(label, str) or not label:
            add("output.label", "Required: the predicted label, a non-empty string.")
            label = None
        elif len(label) > MAX_LABEL:
            add("output.label", f"At most {MAX_LABEL} characters.")
        elif labels is not None and label not in labels:
            add(
                "output.label",
                f"'{label[:100]}' is not in the model's label set: {', '.join(labels)}.",
            )
        scores = output.get("scores")
        if scores is not None:
            if not isinstance(scores, dict):
                add("output.scores", "Must be an object of label: score.")
            else:
                for key, value in scores.items():
                    if not _non_finite(value) and not _finite_number(value):
                        add(f"output.scores.{key}", "Must be a number.")

    confidence = raw.get("confidence")
    if "confidence" not in raw or confidence is None:
        add("confidence", "Required: a number from 0 to 1.")
    elif _non_finite(confidence):
        pass  # reported above with the non-finite paths
    elif not _finite_number(confidence):
        add("confidence", "Must be a number from 0 to 1.")
    elif not 0 <= confidence <= 1:
        add("confidence", f"Must be from 0 to 1; got {confidence}.")

    signals = raw.get("signals")
    if signals is None:
        signals = {}
    elif not isinstance(signals, dict):
        add("signals", "Must be a JSON object.")
    else:
        ood = signals.get("ood_score")
        if ood is not None and not _non_finite(ood) and (not _finite_number(ood) or ood < 0):
            add("signals.ood_score", "Must be a non-negative number.")
        drift = signals.get("drift_features")
        if drift is not None and (
            not isinstance(drift, list) or not all(isinstance(f, str) for f in drift)
        ):
            add("signals.drift_features", "Must be a list of feature names.")
        attributions = signals.get("attributions")
        if attributions is not None:
            if not isinstance(attributions, dict):
                add("signals.attributions", "Must be an object of feature: weight.")
            else:
                for key, value in attributions.items():
                    if not _non_finite(value) and not _finite_number(value):
                        add(f"signals.attributions.{key}", "Must be a number.")

    lineage = raw.get("lineage")
    if lineage is None:
        lineage = {}
    elif not isinstance(lineage, dict):
        add("lineage", "Must be a JSON object.")

    occurred_at = raw.get("occurred_at")
    parsed_time = None
    if occurred_at is not None:
        if not isinstance(occurred_at, str):
            add("occurred_at", "Must be an ISO 8601 date-time string with a time zone.")
        else:
            try:
                parsed_time = dt.datetime.fromisoformat(occurred_at)
            except ValueError:
                add("occurred_at", "Not an ISO 8601 date-time (e.g. 2026-11-22T10:00:00Z).")
            else:
                if parsed_time.tzinfo is None:
                    add("occurred_at", "Must include a time zone (e.g. Z or +01:00).")
                    parsed_time = None
                else:
                    try:  # stored in UTC; year 1 or 9999 with an offset falls off the calendar
                        parsed_time = parsed_time.astimezone(dt.UTC)
                    except OverflowError:
                        add(
                            "occurred_at",
                            "Out of range: must fall between years 1 and 9999 in UTC.",
                        )
                        parsed_time = None

    if errors:
        # Messages echo what was sent; keep them printable and encodable as UTF-8.
        safe = {safe_text(path): [safe_text(m) for m in msgs] for path, msgs in errors.items()}
        return None, safe, status
    return (
        CleanEnvelope(
            model_slug=slug,
            model_version=version,
            external_id=external_id,
            input=raw["input"],
            output=output,
            label=label,
            confidence=float(confidence),
            signals=signals,
            lineage=lineage,
            occurred_at=parsed_time,
            top_scores=top_scores(label, output.get("scores")),
        ),
        {},
        200,
    )
