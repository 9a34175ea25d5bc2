"""django-filter sets for catalog search: one definition for the HTML page and the API."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from .models import Category, FailureMode, Severity, Tag
from .search import TextSearch, is_postgres

TAG_FACETS = list(Tag.Dimension.values)
SCALAR_FACETS = ["category", "severity", "status", "owner"]
FACETS = [*SCALAR_FACETS, *TAG_FACETS]
SORTS = {
    "relevance": _("Relevance"),
    "severity": _("Severity"),
    "recency": _("Recently updated"),
    "occurrences": _("Most occurrences"),
}


class _FreeValues(forms.MultipleChoiceField):
    """A repeated parameter whose values are checked by the filter, not a fixed choice list."""

    def valid_value(self, value: Any) -> bool:
        return isinstance(value, str) and 0 < len(value) <= 120


class FreeMultipleFilter(django_filters.MultipleChoiceFilter):
    field_class = _FreeValues


class _CategorySlugs(_FreeValues):
    """Category slugs that exist: an unknown one is a field error naming ``category`` (a
    search for a category nobody has is a mistyped link, not an empty result)."""

    def valid_value(self, value: Any) -> bool:
        if not super().valid_value(value):
            return False
        known = getattr(self, "_known", None)
        if known is None:
            known = self._known = set(Category.objects.values_list("slug", flat=True))
        return value in known


class CategoryFilter(django_filters.MultipleChoiceFilter):
    field_class = _CategorySlugs


def category_ids_with_descendants(slugs: list[str]) -> list[int]:
    rows = list(Category.objects.values_list("id", "slug", "parent_id"))
    children: dict[int | None, list[int]] = {}
    for pk, _slug, parent in rows:
        children.setdefault(parent, []).append(pk)
    wanted = [pk for pk, slug, _p in rows if slug in slugs]
    out: list[int] = []
    while wanted:
        pk = wanted.pop()
        out.append(pk)
        wanted.extend(children.get(pk, []))
    return out


class FailureModeFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_q", max_length=200, label=_("Search"), help_text=_("Words to look for.")
    )
    category = CategoryFilter(
        method="filter_facet", label=_("Category"), help_text=_("Category slug (repeatable).")
    )
    severity = django_filters.MultipleChoiceFilter(
        method="filter_facet", choices=Severity.choices, label=_("Severity")
    )
    status = django_filters.MultipleChoiceFilter(
        method="filter_facet", choices=FailureMode.Status.choices, label=_("Status")
    )
    owner = FreeMultipleFilter(method="filter_facet", label=_("Owner"))
    data_domain = FreeMultipleFilter(method="filter_facet", label=_("Data domain"))
    model_family = FreeMultipleFilter(method="filter_facet", label=_("Model family"))
    deployment = FreeMultipleFilter(method="filter_facet", label=_("Deployment environment"))
    segment = FreeMultipleFilter(method="filter_facet", label=_("Customer segment"))

    class Meta:
        model = FailureMode
        fields: list[str] = []

    def __init__(self, *args: Any, search: TextSearch | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        q = self.data.get("q", "") if self.data else ""
        self.search = search if search is not None else TextSearch(q)

    def filter_q(self, queryset, name, value):
        return self.search.match(queryset)

    def filter_facet(self, queryset, name, value: list[str]):
        return queryset.filter(facet_condition(name, list(value)))

    def facet_selections(self) -> dict[str, list[str]]:
        """The facets in use, with their validated values (call after ``errors``)."""
        cleaned = getattr(self.form, "cleaned_data", {})
        return {name: list(cleaned[name]) for name in FACETS if cleaned.get(name)}


def facet_condition(name: str, values: list[str]) -> Q | RawSQL:
    """The condition one facet's selection puts on the entries. The filter applies it; the
    PostgreSQL search also computes it per match, to count each facet with its own selection
    lifted in the same pass (catalog.selectors.facets)."""
    if name == "category":
        return Q(category_id__in=category_ids_with_descendants(values))
    if name in ("severity", "status"):
        return Q(**{f"{name}__in": values})
    if name == "owner":
        return Q(owner_id__in=get_user_model().objects.filter(username__in=values).values("pk"))
    names = [v.lower() for v in values]
    if is_postgres():
        # The entry's own tag ids (migration 0004, GIN-indexed): no join through the links.
        return RawSQL(
            '"catalog_failuremode"."tag_ids" && ARRAY(SELECT id FROM catalog_tag '
            "WHERE dimension = %s AND name = ANY(%s))::integer[]",
            [name, names],
            output_field=BooleanField(),
        )
    through = FailureMode.tags.through.objects.filter(tag__dimension=name, tag__name__in=names)
    return Q(pk__in=through.values("failuremode_id"))
