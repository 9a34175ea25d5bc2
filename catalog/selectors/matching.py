"""Entries that look like something: duplicate hints for editors, tag choices and
matches for the review page."""

from __future__ import annotations

import difflib
from typing import NamedTuple

from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from ..models import FailureMode
from ..search import is_postgres


# --- Duplicate hints ------------------------------------------------------------------------
def failure_modes_similar(
    *, title: str, summary: str = "", exclude_pk: int | None = None, limit: int = 5
) -> list[FailureMode]:
    """Entries whose title (or summary) looks like this one: hints against duplicates."""
    title = " ".join((title or "").split())[:200]
    if len(title) < 4:
        return []
    qs = FailureMode.objects.exclude(pk=exclude_pk).select_related("category")
    if is_postgres():
        rows = (
            qs.annotate(sim=TrigramSimilarity("title", title))
            .filter(Q(title__trigram_similar=title) | Q(title__trigram_word_similar=title))
            .order_by("-sim", "pk")[:limit]
        )
        found = list(rows)
        if summary and len(found) < limit:
            seen = {f.pk for f in found}
            extra = qs.filter(search_vector=_or_query(summary)).exclude(pk__in=seen)
            found += list(extra.order_by("-updated_at")[: limit - len(found)])
        return found
    candidates = list(qs.only("pk", "title", "summary", "slug", "severity", "status", "category"))

    def score(fm: FailureMode) -> float:
        s = difflib.SequenceMatcher(None, title.lower(), fm.title.lower()).ratio()
        if summary:
            s = max(s, 0.9 * difflib.SequenceMatcher(None, summary.lower()[:300],
                                                     fm.summary.lower()[:300]).ratio())  # fmt: skip
        return s

    scored = sorted(((score(f), f) for f in candidates), key=lambda t: -t[0])
    return [f for s, f in scored if s >= 0.55][:limit]


def _or_query(text: str):
    from django.contrib.postgres.search import SearchQuery

    terms = [w for w in text.split() if len(w) > 4][:8]
    query = None
    for term in terms:
        part = SearchQuery(term, config="english")
        query = part if query is None else query | part
    return query or SearchQuery("", config="english")


# --- For the review queue -------------------------------------------------------------------
class FailureModeChoice(NamedTuple):
    slug: str
    title: str
    severity: str


def failure_mode_choices() -> list[FailureModeChoice]:
    """Every entry a reviewer may tag a decision with (all but deprecated), by title."""
    rows = (
        FailureMode.objects.exclude(status=FailureMode.Status.DEPRECATED)
        .order_by("title")
        .values_list("slug", "title", "severity")
    )
    return [FailureModeChoice(*row) for row in rows]


def failure_modes_matching(
    *,
    model_slug: str,
    label: str = "",
    reason_codes: list[str] | tuple[str, ...] = (),
    drift_features: list[str] | tuple[str, ...] = (),
    limit: int = 5,
) -> list[FailureMode]:
    """Published or in-review entries that fit a review item, best first.

    Score: +3 when the entry lists the model among affected models, +2 per reason code or
    drifting feature among its signal keys, +1 when its signal keys name the predicted label;
    at least one signal must match (a model match alone is not a hint). Each result carries
    ``match_reasons`` (list of strings) and ``match_score``.
    """
    keys = [*reason_codes, *drift_features, *([label] if label else [])]
    if not keys:
        return []
    qs = FailureMode.objects.filter(
        status__in=[FailureMode.Status.PUBLISHED, FailureMode.Status.IN_REVIEW]
    )
    if is_postgres():
        # jsonb ?| on the GIN index of migration 0005: a string element of the array.
        condition = Q(signal_keys__has_any_keys=keys)
    else:
        qs = qs.annotate(_keys=Cast("signal_keys", TextField()))
        condition = Q()
        for key in keys:
            condition |= Q(_keys__contains=f'"{key}"')
    candidates = list(
        qs.filter(condition)
        .defer("search_vector", "rank_vector")
        .select_related("category")
        .order_by("pk")[:200]
    )
    scored = []
    for fm in candidates:
        reasons, score = [], 0
        fm_keys = set(fm.signal_keys)
        for code in reason_codes:
            if code in fm_keys:
                score += 2
                reasons.append(f"reason {code}")
        for feat in drift_features:
            if feat in fm_keys:
                score += 2
                reasons.append(f"drift on {feat}")
        if label and label in fm_keys:
            score += 1
            reasons.append(f"label {label}")
        if not reasons:
            continue
        if model_slug and model_slug in fm.affected_models:
            score += 3
            reasons.insert(0, f"affects {model_slug}")
        fm.match_score, fm.match_reasons = score, reasons
        scored.append(fm)
    scored.sort(key=lambda f: (-f.match_score, f.severity, f.title))
    return scored[:limit]
