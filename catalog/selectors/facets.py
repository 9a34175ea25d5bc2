"""The search page's facets: each value's count over the search's matches."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import and_, or_
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.http import QueryDict

from ..filters import FACETS, SCALAR_FACETS, TAG_FACETS, FailureModeFilter, facet_condition
from ..models import Category, FailureMode, Severity, Tag
from ..search import TextSearch, index_scans, is_postgres
from .search import failure_modes_base


@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool
    depth: int = 0


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


def catalog_facets(*, params: QueryDict) -> dict[str, list[FacetValue]]:
    """The search page's facets for the query and filters in ``params``: every value with its
    count, the selected ones marked (see :func:`failure_mode_facet_counts`)."""
    search = TextSearch(params.get("q", ""))
    with index_scans(search, FailureMode):
        filterset = FailureModeFilter(params, queryset=failure_modes_base(), search=search)
        filterset.errors  # noqa: B018 - validates; invalid filters are left out
        return _facet_lists(failure_mode_facet_counts(filterset), params)


def tag_values() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {d: [] for d in TAG_FACETS}
    for dim, name in Tag.objects.values_list("dimension", "name"):
        out[dim].append(name)
    return out
