"""Reads: search with facets, entry pages, occurrence trends, matching for the review page.

One module per area; this package re-exports their public names, so callers keep writing
``from catalog import selectors`` and ``selectors.catalog_search(...)``:

- ``search``: the result page (match, filter, rank, paginate); ``facets``: its facet counts
- ``entries``: entry pages and lists; ``occurrences``: occurrence trends
- ``revisions``: revision history and diffs; ``stewardship``: what is overdue for review
- ``matching``: duplicate hints, and tag choices and matches for the review page
"""

from __future__ import annotations

from .entries import (
    case_studies_list,
    case_study_detail,
    failure_mode_detail,
    failure_mode_quality,
    missing_for_action,
    mitigation_detail,
    mitigation_outcomes,
    mitigations_list,
)
from .facets import FacetValue, catalog_facets, failure_mode_facet_counts, tag_values
from .matching import (
    FailureModeChoice,
    failure_mode_choices,
    failure_modes_matching,
    failure_modes_similar,
)
from .occurrences import OccurrenceSeries, failure_mode_occurrences, occurrence_trend
from .revisions import (
    FieldDiff,
    pending_revision_diff,
    pending_revision_for,
    revision_diff,
    revisions_for,
)
from .search import (
    PER_PAGE,
    RESULT_FIELDS,
    TOTAL,
    SearchHits,
    SearchPage,
    catalog_search,
    failure_modes_base,
    failure_modes_search,
    failure_modes_sorted,
)
from .stewardship import stewardship_overdue

__all__ = [
    "FacetValue",
    "FailureModeChoice",
    "FieldDiff",
    "OccurrenceSeries",
    "PER_PAGE",
    "RESULT_FIELDS",
    "SearchHits",
    "SearchPage",
    "TOTAL",
    "case_studies_list",
    "case_study_detail",
    "catalog_facets",
    "catalog_search",
    "failure_mode_choices",
    "failure_mode_detail",
    "failure_mode_facet_counts",
    "failure_mode_occurrences",
    "failure_mode_quality",
    "missing_for_action",
    "failure_modes_base",
    "failure_modes_matching",
    "failure_modes_search",
    "failure_modes_similar",
    "failure_modes_sorted",
    "mitigation_detail",
    "mitigation_outcomes",
    "mitigations_list",
    "occurrence_trend",
    "pending_revision_diff",
    "pending_revision_for",
    "revision_diff",
    "revisions_for",
    "stewardship_overdue",
    "tag_values",
]
