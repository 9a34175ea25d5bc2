"""django-filter sets for catalog search: one definition for the HTML page and the API."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from .models import Category, FailureMode, Severity, Tag
from .search import TextSearch, is_postgres

TAG_FACETS = list(Tag.Dimension.values)
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
    category = FreeMultipleFilter(
        method="filter_category", label=_("Category"), help_text=_("Category slug (repeatable).")
    )
    # distinct=False: none of these joins can repeat a row, and DISTINCT slows big searches.
    severity = django_filters.MultipleChoiceFilter(
        choices=Severity.choices, label=_("Severity"), distinct=False
    )
    status = django_filters.MultipleChoiceFilter(
        choices=FailureMode.Status.choices, label=_("Status"), distinct=False
    )
    owner = FreeMultipleFilter(field_name="owner__username", label=_("Owner"), distinct=False)
    data_domain = FreeMultipleFilter(method="filter_tag", label=_("Data domain"))
    model_family = FreeMultipleFilter(method="filter_tag", label=_("Model family"))
    deployment = FreeMultipleFilter(method="filter_tag", label=_("Deployment environment"))
    segment = FreeMultipleFilter(method="filter_tag", label=_("Customer segment"))

    class Meta:
        model = FailureMode
        fields: list[str] = []

    def __init__(self, *args: Any, search: TextSearch | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        q = self.data.get("q", "") if self.data else ""
        self.search = search if search is not None else TextSearch(q)

    def filter_q(self, queryset, name, value):
        return self.search.match(queryset)

    def filter_category(self, queryset, name, value: list[str]):
        return queryset.filter(category_id__in=category_ids_with_descendants(list(value)))

    def filter_tag(self, queryset, name, value: list[str]):
        names = [v.lower() for v in value]
        if is_postgres():
            # The entry's own tag ids (migration 0004, GIN-indexed): no join through the links.
            return queryset.filter(
                RawSQL(
                    '"catalog_failuremode"."tag_ids" && ARRAY(SELECT id FROM catalog_tag '
                    "WHERE dimension = %s AND name = ANY(%s))::integer[]",
                    [name, names],
                    output_field=BooleanField(),
                )
            )
        through = FailureMode.tags.through.objects.filter(tag__dimension=name, tag__name__in=names)
        return queryset.filter(pk__in=through.values("failuremode_id"))
