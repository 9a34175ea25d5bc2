"""Reads: search with facets, entry pages, occurrence trends, matching for the review page."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from functools import reduce
from operator import and_, or_
from typing import Any, NamedTuple

from django.contrib.postgres.search import TrigramSimilarity
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    FloatField,
    Prefetch,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from reviewapp.core.params import PAGE_MAX, int_or_none

from . import quality
from .filters import FACETS, SCALAR_FACETS, SORTS, TAG_FACETS, FailureModeFilter, facet_condition
from .models import (
    CaseStudy,
    Category,
    FailureMode,
    FailureModeMitigation,
    MitigationTemplate,
    Occurrence,
    PendingRevision,
    Revision,
    Severity,
    Tag,
)
from .search import TextSearch, index_scans, is_postgres

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
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool
    depth: int = 0


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


def failure_mode_facet_counts(filterset: FailureModeFilter) -> dict[str, dict[str, int]]:
    """Facet name -> value -> count over the search's matches. A facet in use is counted with
    its own selection lifted (the user sees how many entries each alternative would give;
    the other facets still apply); the others over the filtered matches.

    ``filterset`` must have been validated (``errors`` read); invalid filters are left out."""
    if is_postgres():
        return _pg_facet_counts(filterset)
    return _orm_facet_counts(filterset)


# --- PostgreSQL: one pass over the matches ---------------------------------------------------
_PG_FACET_COLUMNS = {"category": "category_id", "severity": "severity", "status": "status",
                     "owner": "owner_id"}  # fmt: skip
_PG_FACET_VALUES = {"category": "c.slug", "severity": "g.severity", "status": "g.status",
                    "owner": "u.username"}  # fmt: skip


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


def _pg_facet_counts(filterset: FailureModeFilter) -> dict[str, dict[str, int]]:
    """One statement: the text matches, with one flag per facet in use (does the row satisfy
    that selection?), read once into a materialised CTE. A facet not in use is counted over
    the rows with every flag set (GROUPING SETS, tags from each entry's ``tag_ids`` array,
    migration 0004), a facet in use over the rows with every other flag set."""
    search = filterset.search
    selections = filterset.facet_selections()
    conditions = {name: Q(facet_condition(name, values)) for name, values in selections.items()}
    flags = {name: f"f{i}" for i, name in enumerate(conditions)}

    def all_but(skip: str | None = None) -> Q:
        return reduce(and_, (c for name, c in conditions.items() if name != skip), Q())

    scope = search.match(FailureMode.objects.all())
    if len(conditions) > 1:
        # Only rows that miss at most one selection are counted anywhere (a facet in use is
        # counted over the rows every other selection allows); this lets PostgreSQL combine
        # indexes rather than read every match, or with no query, every entry.
        scope = scope.filter(reduce(or_, (all_but(name) for name in conditions)))
    annotations: dict[str, Any] = {
        flags[name]: ExpressionWrapper(condition, output_field=BooleanField())
        for name, condition in conditions.items()
    }
    annotations["tag_ids"] = RawSQL('"catalog_failuremode"."tag_ids"', [], TextField())
    matching = scope.order_by().annotate(**annotations)
    inner, params = matching.values(
        *sorted(_PG_FACET_COLUMNS.values()), *annotations
    ).query.sql_with_params()

    def where(skip: str | None = None) -> str:
        return " AND ".join(f"m.{f}" for name, f in flags.items() if name != skip) or "TRUE"

    unselected = [name for name in FACETS if name not in selections]
    parts, args = _pg_facet_sql(unselected, where())
    for name in selections:
        sql, extra = _pg_facet_sql([name], where(skip=name))
        parts += sql
        args += extra
    statement = f"WITH m AS MATERIALIZED ({inner}) " + " UNION ALL ".join(parts)
    counts: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, *args])
        for kind, value, n in cursor.fetchall():
            if value is not None:
                counts[kind][value] = n
    return counts


def _pg_facet_sql(names: list[str], where: str) -> tuple[list[str], list]:
    """SELECTs (facet, value, count) over the CTE ``m`` for the given facets, on the rows
    that satisfy ``where``."""
    scalar = [n for n in names if n in _PG_FACET_COLUMNS]
    tag_dims = [n for n in names if n in TAG_FACETS]
    columns = [_PG_FACET_COLUMNS[n] for n in scalar]
    parts: list[str] = []
    if columns:
        # GROUPING(columns) sets a bit for each column rolled up: 1 everywhere but the column
        # grouped on.
        everything = (1 << len(columns)) - 1
        bits = {n: everything ^ (1 << (len(columns) - 1 - i)) for i, n in enumerate(scalar)}
        name_expr = "CASE g.bits {} END".format(
            " ".join(f"WHEN {bits[n]} THEN '{n}'" for n in scalar)
        )
        value_expr = "CASE g.bits {} END".format(
            " ".join(f"WHEN {bits[n]} THEN {_PG_FACET_VALUES[n]}" for n in scalar)
        )
        joins = ""
        if "category" in bits:
            joins += f" LEFT JOIN catalog_category c ON g.bits = {bits['category']} AND c.id = g.category_id"
        if "owner" in bits:
            joins += f" LEFT JOIN auth_user u ON g.bits = {bits['owner']} AND u.id = g.owner_id"
        sets = ", ".join(f"({c})" for c in columns)
        parts.append(
            f"SELECT {name_expr}, {value_expr}, g.n "
            f"FROM (SELECT {', '.join(columns)}, count(*) AS n, GROUPING({', '.join(columns)}) "
            f"AS bits FROM m WHERE {where} GROUP BY GROUPING SETS ({sets})) AS g{joins}"
        )
    params: list[Any] = []
    if tag_dims:
        parts.append(
            "SELECT t.dimension, t.name, x.n FROM (SELECT id, count(*) AS n FROM "
            f"(SELECT unnest(m.tag_ids) AS id FROM m WHERE {where}) AS ids GROUP BY id) AS x "
            "JOIN catalog_tag t ON t.id = x.id WHERE t.dimension = ANY(%s)"
        )
        params.append(tag_dims)
    return parts, params


# --- Other databases: grouped queries ---------------------------------------------------------
_FACET_COLUMNS = {"category": "category__slug", "severity": "severity", "status": "status",
                  "owner": "owner__username"}  # fmt: skip


def _orm_facet_counts(filterset: FailureModeFilter) -> dict[str, dict[str, int]]:
    """Facets not in use counted together over the filtered rows; each facet in use over
    the rows every other selection allows."""
    selections = filterset.facet_selections()
    conditions = {name: facet_condition(name, values) for name, values in selections.items()}
    matches = filterset.search.match(FailureMode.objects.all())

    def allowed(skip: str | None = None) -> QuerySet:
        qs = matches
        for name, condition in conditions.items():
            if name != skip:
                qs = qs.filter(condition)
        return qs

    counts = _orm_counts(allowed(), [name for name in FACETS if name not in selections])
    for name in selections:
        counts[name] = _orm_counts(allowed(skip=name), [name])[name]
    return counts


def _orm_counts(qs: QuerySet, names: list[str]) -> dict[str, dict[str, int]]:
    """One grouped query over the scalar facets, one over the tag links."""
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    scalar = [n for n in names if n in SCALAR_FACETS]
    if scalar:
        columns = [_FACET_COLUMNS[n] for n in scalar]
        for row in qs.order_by().values(*columns).annotate(n=Count("id")):
            for name, column in zip(scalar, columns, strict=True):
                if row[column] is not None:
                    counts[name][row[column]] = counts[name].get(row[column], 0) + row["n"]
    tag_dims = [n for n in names if n in TAG_FACETS]
    if tag_dims:
        rows = (
            FailureMode.tags.through.objects.filter(failuremode__in=qs.order_by().values("pk"))
            .filter(tag__dimension__in=tag_dims)
            .values("tag__dimension", "tag__name")
            .annotate(n=Count("failuremode_id"))
        )
        for row in rows:
            counts[row["tag__dimension"]][row["tag__name"]] = row["n"]
    return counts


def _facet_lists(counts: dict[str, dict[str, int]], data: QueryDict) -> dict[str, list]:
    out: dict[str, list[FacetValue]] = {}
    # Categories as a tree: parents carry the sum of their children.
    cats = list(Category.objects.values_list("slug", "name", "parent_id", "id"))
    by_id = {c[3]: c for c in cats}
    cat_counts = dict(counts["category"])
    for slug, _name, parent_id, _pk in cats:
        n = counts["category"].get(slug, 0)
        while parent_id is not None and n:
            parent = by_id[parent_id]
            cat_counts[parent[0]] = cat_counts.get(parent[0], 0) + n
            parent_id = parent[2]
    chosen = set(data.getlist("category"))
    out["category"] = [
        FacetValue(slug, name, cat_counts.get(slug, 0), slug in chosen, 0 if parent is None else 1)
        for slug, name, parent, _pk in _tree_order(cats)
    ]
    for name, choices in (("severity", Severity.choices), ("status", FailureMode.Status.choices)):
        chosen = set(data.getlist(name))
        out[name] = [
            FacetValue(value, str(label), counts[name].get(value, 0), value in chosen)
            for value, label in choices
        ]
    for name in ["owner", *TAG_FACETS]:
        chosen = set(data.getlist(name))
        values = set(counts[name]) | chosen
        out[name] = sorted(
            (FacetValue(v, v, counts[name].get(v, 0), v in chosen) for v in values),
            key=lambda f: (-f.count, f.value),
        )[:15]
    return out


def _tree_order(cats: list[tuple]) -> list[tuple]:
    roots = [c for c in cats if c[2] is None]
    ordered = []
    for root in roots:
        ordered.append(root)
        ordered.extend(c for c in cats if c[2] == root[3])
    return ordered


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


def catalog_facets(*, params: QueryDict) -> dict[str, list[FacetValue]]:
    """The search page's facets for the query and filters in ``params``: every value with its
    count, the selected ones marked (see :func:`failure_mode_facet_counts`)."""
    search = TextSearch(params.get("q", ""))
    with index_scans(search, FailureMode):
        filterset = FailureModeFilter(params, queryset=failure_modes_base(), search=search)
        filterset.errors  # noqa: B018 - validates; invalid filters are left out
        return _facet_lists(failure_mode_facet_counts(filterset), params)


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


# --- Entry pages ----------------------------------------------------------------------------
def failure_mode_detail(*, slug: str) -> FailureMode | None:
    return (
        FailureMode.objects.select_related(
            "category", "category__parent", "owner", "steward", "created_by", "published_by"
        )
        .prefetch_related(
            "tags",
            Prefetch(
                "links",
                queryset=FailureModeMitigation.objects.select_related("mitigation").order_by(
                    "effectiveness", "mitigation__title"
                ),
            ),
            Prefetch("case_studies", queryset=CaseStudy.objects.order_by("-occurred_on")),
        )
        .filter(slug=slug)
        .first()
    )


def mitigation_detail(*, slug: str) -> MitigationTemplate | None:
    return (
        MitigationTemplate.objects.select_related("owner", "created_by")
        .prefetch_related(
            Prefetch(
                "links",
                queryset=FailureModeMitigation.objects.select_related("failure_mode").order_by(
                    "failure_mode__title"
                ),
            ),
            "uses",
            "case_studies",
        )
        .filter(slug=slug)
        .first()
    )


def mitigation_outcomes(m: MitigationTemplate) -> dict[str, Any]:
    """How the mitigation worked where incidents used it (from prefetched ``uses``)."""
    uses = list(m.uses.all())
    observed = sorted(u.observed_ttr_minutes for u in uses if u.observed_ttr_minutes is not None)
    known = [u for u in uses if u.recurred is not None]
    return {
        "uses": len(uses),
        "expected_ttr": m.expected_ttr_minutes,
        "observed_ttr_median": observed[len(observed) // 2] if observed else None,
        "recurred": sum(1 for u in known if u.recurred),
        "recurrence_known": len(known),
    }


def case_study_detail(*, slug: str) -> CaseStudy | None:
    return (
        CaseStudy.objects.select_related("created_by")
        .prefetch_related("failure_modes", "mitigations")
        .filter(slug=slug)
        .first()
    )


@dataclass
class OccurrenceSeries:
    weeks: list[tuple[dt.date, int]]
    total: int
    trend: str  # rising / stable / falling
    recent: list[Occurrence]
    by_source: dict[str, int]


def occurrence_trend(counts: list[int]) -> str:
    """Compare the last four weeks with the four before: ≥ 1.5× and +2 is rising, ≤ 0.5× and
    −2 is falling, anything else (including too little data) is stable."""
    recent, previous = sum(counts[-4:]), sum(counts[-8:-4])
    if recent >= max(previous * 1.5, previous + 2):
        return "rising"
    if recent <= previous * 0.5 and previous - recent >= 2:
        return "falling"
    return "stable"


def failure_mode_occurrences(
    fm: FailureMode, *, weeks: int = 12, now: dt.datetime | None = None
) -> OccurrenceSeries:
    now = now or timezone.now()
    today = timezone.localdate(now)
    this_monday = today - dt.timedelta(days=today.weekday())
    starts = [this_monday - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    since = dt.datetime.combine(starts[0], dt.time(), tzinfo=timezone.get_current_timezone())
    dates = Occurrence.objects.filter(failure_mode=fm, occurred_at__gte=since).values_list(
        "occurred_at", flat=True
    )
    buckets = dict.fromkeys(starts, 0)
    for at in dates:
        day = timezone.localdate(at)
        monday = day - dt.timedelta(days=day.weekday())
        if monday in buckets:
            buckets[monday] += 1
    counts = [buckets[s] for s in starts]
    by_source = dict(
        Occurrence.objects.filter(failure_mode=fm)
        .values_list("source_type")
        .annotate(n=Count("id"))
        .values_list("source_type", "n")
    )
    recent = list(Occurrence.objects.filter(failure_mode=fm).order_by("-occurred_at")[:10])
    return OccurrenceSeries(
        weeks=list(zip(starts, counts, strict=True)),
        total=sum(by_source.values()),
        trend=occurrence_trend(counts),
        recent=recent,
        by_source=by_source,
    )


def failure_mode_quality(fm: FailureMode, snapshot: dict[str, Any]) -> dict[str, Any]:
    next_status = {"draft": "in_review", "in_review": "published"}.get(fm.status, fm.status)
    return {
        "score": quality.completeness(snapshot),
        "gaps": [quality.FIELD_LABELS.get(f, f) for f in quality.completeness_gaps(snapshot)],
        "next_status": next_status,
        "missing_for_next": [
            quality.FIELD_LABELS.get(f, f)
            for f in quality.missing_for_status(snapshot, next_status)
        ],
    }


# --- Revisions ------------------------------------------------------------------------------
def revisions_for(*, kind: str, object_id: int) -> QuerySet[Revision]:
    return Revision.objects.filter(kind=kind, object_id=object_id).select_related("author")


def _as_text(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {_as_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(
            " · ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else str(item)
            for item in value
        )
    return "" if value is None else str(value)


@dataclass
class FieldDiff:
    field: str
    label: str
    html: SafeString


def revision_diff(older: dict[str, Any], newer: dict[str, Any]) -> list[FieldDiff]:
    """Changed fields only, each as escaped line diff HTML (<del>/<ins> per line)."""
    out = []
    for key in newer.keys() | older.keys():
        a, b = _as_text(older.get(key)), _as_text(newer.get(key))
        if a == b:
            continue
        lines = []
        for line in difflib.ndiff(a.splitlines(), b.splitlines()):
            tag, text = line[:2], escape(line[2:])
            if tag == "- ":
                lines.append(f'<del class="diff-del">− {text}</del>')
            elif tag == "+ ":
                lines.append(f'<ins class="diff-ins">+ {text}</ins>')
            elif tag == "  ":
                lines.append(f'<span class="diff-same">  {text}</span>')
        out.append(
            FieldDiff(key, str(quality.FIELD_LABELS.get(key, key.replace("_", " ").capitalize())),
                      mark_safe("\n".join(lines)))  # noqa: S308 - every piece escaped above
        )  # fmt: skip
    order = list(newer.keys())
    return sorted(out, key=lambda d: order.index(d.field) if d.field in order else 999)


# --- Pending revisions ----------------------------------------------------------------------
def pending_revision_for(fm: FailureMode) -> PendingRevision | None:
    """The entry's revision waiting for review, if any (at most one: a constraint)."""
    return (
        PendingRevision.objects.filter(failure_mode=fm, status=PendingRevision.Status.PENDING)
        .select_related("author")
        .first()
    )


def pending_revision_diff(pending: PendingRevision) -> list[FieldDiff]:
    """What publishing it would change, field by field, against the values it was based on."""
    return revision_diff(dict(pending.base), dict(pending.changes))


# --- Stewardship ----------------------------------------------------------------------------
def stewardship_overdue(*, user: Any = None, today: dt.date | None = None) -> dict[str, QuerySet]:
    today = today or timezone.localdate()
    fms = (
        FailureMode.objects.filter(next_review_on__lt=today)
        .exclude(status=FailureMode.Status.DEPRECATED)
        .select_related("owner", "steward", "category")
        .order_by("next_review_on", "pk")
    )
    mits = MitigationTemplate.objects.filter(next_review_on__lt=today).select_related("owner")
    if user is not None:
        fms = fms.filter(Q(owner=user) | Q(steward=user))
        mits = mits.filter(owner=user)
    return {"failure_modes": fms, "mitigations": mits.order_by("next_review_on", "pk")}


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


def tag_values() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {d: [] for d in TAG_FACETS}
    for dim, name in Tag.objects.values_list("dimension", "name"):
        out[dim].append(name)
    return out


def mitigations_list() -> QuerySet[MitigationTemplate]:
    return (
        MitigationTemplate.objects.select_related("owner")
        .annotate(n_failure_modes=Count("links"))
        .order_by("title")
    )


def case_studies_list() -> QuerySet[CaseStudy]:
    return CaseStudy.objects.prefetch_related("failure_modes").order_by("-occurred_on", "title")
