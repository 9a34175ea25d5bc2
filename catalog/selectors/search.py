"""The catalog search: match, filter, rank, one page of results (the text matching itself
is ``catalog.search``; the facet counts are ``facets``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import ExpressionWrapper, FloatField, QuerySet, Value
from django.http import QueryDict
from django.utils.safestring import SafeString, mark_safe

from reviewapp.core.params import PAGE_MAX, int_or_none

from ..filters import SORTS, FailureModeFilter
from ..models import CaseStudy, FailureMode, MitigationTemplate
from ..search import TextSearch, index_scans, is_postgres

PER_PAGE = 20

# What a search result shows, on the page and in the API (FailureModeListOutput).
RESULT_FIELDS = ("slug", "title", "summary", "severity", "status", "occurrence_count",
                 "updated_at", "category__slug", "category__name", "owner__username")  # fmt: skip

TOTAL = "_total"

_PAGE = "_page"


def failure_modes_base() -> QuerySet[FailureMode]:
    """Entries for result lists. Category and owner are prefetched for the page shown rather
    than joined: a join would run for every match before ranking picks 20 (18,000 rows for a
    common word). The search vectors are never read in Python."""
    return FailureMode.objects.defer("search_vector", "rank_vector").prefetch_related(
        "category", "owner", "tags"
    )


# Sort keys of the result list ("-" for descending); "relevance" without a query is by
# severity, then title.
_ORDERINGS = {
    "relevance": ("-score", "severity", "pk"),
    "severity": ("severity", "-score", "title", "pk"),
    "recency": ("-updated_at", "pk"),
    "occurrences": ("-occurrence_count", "-score", "pk"),
}

_UNRANKED = ("severity", "title", "pk")


def _ordering(search: TextSearch, sort: str) -> tuple[str, ...]:
    return _ORDERINGS[sort] if (search or sort != "relevance") else _UNRANKED


def failure_modes_sorted(qs: QuerySet, *, search: TextSearch, sort: str) -> QuerySet:
    """Rank (when there is a query) and order. ``sort`` is one of filters.SORTS."""
    return search.rank(qs).order_by(*_ordering(search, sort))


@dataclass
class SearchHits:
    """One slice of a search: its rows in order (each with ``score``) and the total."""

    rows: list[FailureMode]
    total: int


@dataclass
class SearchPage:
    q: str
    sort: str
    page: Page
    total: int
    errors: dict[str, list[str]]
    snippets: dict[int, SafeString] = field(default_factory=dict)
    mitigations: list[MitigationTemplate] = field(default_factory=list)
    case_studies: list[CaseStudy] = field(default_factory=list)
    correction: str = ""  # the query as corrected for spelling, when it was


def failure_modes_search(
    filterset: FailureModeFilter, *, sort: str, offset: int, limit: int
) -> SearchHits:
    """The search behind the catalog page and the API: match, filter, rank, count, one slice.

    ``filterset`` must have been validated (``errors`` read); invalid filters are left out."""
    if is_postgres():
        return _pg_search(filterset, sort=sort, offset=offset, limit=limit)
    ordered = failure_modes_sorted(filterset.qs, search=filterset.search, sort=sort)
    return SearchHits(list(ordered[offset : offset + limit]), ordered.count())


# --- PostgreSQL: one statement for the slice and the total ----------------------------------
def _pg_search(filterset: FailureModeFilter, *, sort: str, offset: int, limit: int) -> SearchHits:
    """One statement reads the matching rows once (a materialised CTE) and returns the slice
    and the total."""
    search = filterset.search
    ordering = _ordering(search, sort)
    columns = {"id"} | {key.lstrip("-") for key in ordering if key not in ("pk", "-score")}
    score = search.pg_score(FailureMode) if search else Value(0.0)
    matching = filterset.qs.order_by().annotate(
        score=ExpressionWrapper(score, output_field=FloatField())
    )
    inner, params = matching.values(*sorted(columns), "score").query.sql_with_params()
    order = ", ".join(
        ("id" if k.lstrip("-") == "pk" else k.lstrip("-")) + (" DESC" if k[0] == "-" else "")
        for k in ordering
    )
    statement = (
        f"WITH m AS MATERIALIZED ({inner}) "
        f"SELECT '{_PAGE}', p.id, row_number() OVER (ORDER BY {order}), p.score::float8 "
        f"FROM (SELECT * FROM m ORDER BY {order} LIMIT %s OFFSET %s) AS p "
        f"UNION ALL SELECT '{TOTAL}', NULL, count(*), NULL FROM m"
    )
    page: list[tuple[int, int, float]] = []
    total = 0
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, limit, offset])
        for kind, pk, n, score in cursor.fetchall():
            if kind == _PAGE:
                page.append((n, pk, score))
            else:
                total = n
    # 20 rows by id with what a result shows (not the long fields): category and owner
    # joined here (cheaper than two more queries).
    shown = FailureMode.objects.select_related("category", "owner").only(*RESULT_FIELDS)
    found = shown.prefetch_related("tags").in_bulk([pk for _n, pk, _s in page])
    rows = []
    for _n, pk, score in sorted(page):
        if pk in found:  # deleted since the statement ran
            found[pk].score = score
            rows.append(found[pk])
    return SearchHits(rows, total)


class _CountedPaginator(Paginator):
    """A paginator told the total, which the search already counted."""

    def __init__(self, per_page: int, *, count: int) -> None:
        super().__init__([], per_page)
        self.__dict__["count"] = count  # Paginator.count is a cached_property


def _page_number(value: Any) -> int:
    # Past the last page the paginator shows the last one; nonsense is the first.
    return int_or_none(value, minimum=1, maximum=PAGE_MAX) or 1


def catalog_search(*, params: QueryDict, page_number: Any = 1, per_page: int = PER_PAGE,
                   with_others: bool = True) -> SearchPage:  # fmt: skip
    """The catalog search page and its benchmark: matching, ranking, the page, snippets,
    spelling correction and (``with_others``) the matching mitigations and case studies.
    The facet counts are :func:`catalog_facets`, which the page loads after its results."""
    search = TextSearch(params.get("q", ""))
    sort = params.get("sort") or "relevance"
    if sort not in SORTS:
        sort = "relevance"
    with index_scans(search, FailureMode):
        return _catalog_search(search, sort, params, _page_number(page_number), per_page,
                               with_others)  # fmt: skip


def _catalog_search(search: TextSearch, sort: str, params: QueryDict, number: int,
                    per_page: int, with_others: bool) -> SearchPage:  # fmt: skip
    filterset = FailureModeFilter(params, queryset=failure_modes_base(), search=search)
    errors = {k: [str(m) for m in v] for k, v in filterset.errors.items()}
    hits = failure_modes_search(
        filterset, sort=sort, offset=(number - 1) * per_page, limit=per_page
    )
    paginator = _CountedPaginator(per_page, count=hits.total)
    if number > paginator.num_pages:  # past the end: the last page, as Paginator.get_page does
        number = paginator.num_pages
        offset = (number - 1) * per_page
        hits.rows = failure_modes_search(filterset, sort=sort, offset=offset, limit=per_page).rows
    page = Page(hits.rows, number, paginator)
    snippets = search.snippets(FailureMode, [r.pk for r in hits.rows]) if search else {}
    result = SearchPage(
        q=search.q,
        sort=sort,
        page=page,
        total=hits.total,
        errors=errors,
        snippets={k: mark_safe(v) for k, v in snippets.items()},  # noqa: S308 - escaped in search
    )
    if search and with_others:
        result.mitigations = list(
            search.rank(search.match(MitigationTemplate.objects.all())).order_by("-score", "pk")[:5]
        )
        result.case_studies = list(
            search.rank(search.match(CaseStudy.objects.all())).order_by("-score", "pk")[:5]
        )
    if search:
        result.correction = search.correction(FailureMode.objects.all())
    return result
