"""Catalog API: the same search as the page (one FilterSet, one ranking), plus export/import."""

from __future__ import annotations

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.api import BoundedLimitOffsetPagination, error_response

from . import selectors, services
from .filters import SORTS, FailureModeFilter
from .models import FailureMode
from .search import TextSearch, index_scans
from .transfer import catalog_export, catalog_import


class CanViewCatalog(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("catalog.view_failuremode"))


class CanEditCatalog(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("catalog.change_failuremode"))


class FailureModeListOutput(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    tags = serializers.SerializerMethodField()
    score = serializers.FloatField(read_only=True, help_text="Relevance; 0 without a query.")
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = FailureMode
        fields = ["slug", "title", "summary", "category", "severity", "status", "owner", "tags",
                  "occurrence_count", "updated_at", "score", "url"]  # fmt: skip

    def get_tags(self, obj) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for tag in obj.tags.all():
            out.setdefault(tag.dimension, []).append(tag.name)
        return out


class SearchPagination(BoundedLimitOffsetPagination):
    """limit/offset paging over a slice the search fetched itself, with the total it counted
    in the same statement (no separate COUNT)."""

    max_limit = 200

    def respond(self, request, data: list, *, count: int) -> Response:
        self.request, self.count = request, count
        self.limit, self.offset = self.get_limit(request), self.get_offset(request)
        return self.get_paginated_response(data)


@extend_schema(
    summary="Search failure modes",
    description=(
        "Ranked full-text search (title over summary over body, typo tolerant) with the same "
        "filters as the catalog page. Repeat a filter parameter to select several values."
    ),
    parameters=[
        OpenApiParameter("sort", str, enum=list(SORTS), description="Default: relevance."),
    ],
)
class FailureModeListView(generics.ListAPIView):
    permission_classes = [CanViewCatalog]
    serializer_class = FailureModeListOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = FailureModeFilter
    pagination_class = SearchPagination

    def get_queryset(self):
        return selectors.failure_modes_base()

    def list(self, request, *args, **kwargs):
        params = request.query_params
        sort = params.get("sort") or "relevance"
        if sort not in SORTS:
            raise serializers.ValidationError({"sort": [f"Choose one of: {', '.join(SORTS)}."]})
        search = TextSearch(params.get("q", ""))
        filterset = FailureModeFilter(params, queryset=self.get_queryset(), search=search)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        limit, offset = self.paginator.get_limit(request), self.paginator.get_offset(request)
        with index_scans(search, FailureMode):
            hits = selectors.failure_modes_search(filterset, sort=sort, offset=offset, limit=limit)
        data = self.get_serializer(hits.rows, many=True).data
        return self.paginator.respond(request, data, count=hits.total)


class FacetValueOutput(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    selected = serializers.BooleanField()


class FacetsOutput(serializers.Serializer):
    category = FacetValueOutput(many=True, help_text="Categories as a tree: parents sum children.")
    severity = FacetValueOutput(many=True)
    status = FacetValueOutput(many=True)
    owner = FacetValueOutput(many=True, help_text="The 15 most frequent.")
    data_domain = FacetValueOutput(many=True, help_text="The 15 most frequent.")
    model_family = FacetValueOutput(many=True, help_text="The 15 most frequent.")
    deployment = FacetValueOutput(many=True, help_text="The 15 most frequent.")
    segment = FacetValueOutput(many=True, help_text="The 15 most frequent.")


@extend_schema(
    summary="Facet counts of a failure-mode search",
    description=(
        "Takes the same parameters as the search. For each facet, its values with the number "
        "of matching entries; a facet in use is counted with its own selection lifted, so "
        "each count says how many entries choosing that value would give."
    ),
    responses={200: FacetsOutput},
)
class FailureModeFacetsView(APIView):
    permission_classes = [CanViewCatalog]

    def get(self, request):
        params = request.query_params
        filterset = FailureModeFilter(params, queryset=FailureMode.objects.none())
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        return Response(FacetsOutput(selectors.catalog_facets(params=params)).data)


class FailureModeDetailView(APIView):
    permission_classes = [CanViewCatalog]

    @extend_schema(
        summary="One failure mode",
        responses={200: dict},
        description="The entry's content (the export shape), status, mitigations and trend.",
    )
    def get(self, request, slug: str):
        fm = selectors.failure_mode_detail(slug=slug)
        if fm is None:
            raise Http404
        series = selectors.failure_mode_occurrences(fm)
        return Response(
            {
                **services.failure_mode_snapshot(fm),
                "status": fm.status,
                "version": fm.version,
                "mitigations": [
                    {
                        "mitigation": link.mitigation.slug,
                        "title": link.mitigation.title,
                        "effectiveness": link.effectiveness,
                    }  # fmt: skip
                    for link in fm.links.all()
                ],
                "occurrences": {
                    "total": series.total,
                    "trend": series.trend,
                    "weekly": [{"week": w.isoformat(), "count": c} for w, c in series.weeks],
                },
            }
        )


class CatalogTransferView(APIView):
    permission_classes = [CanEditCatalog]

    @extend_schema(summary="Export the whole catalog", responses={200: dict})
    def get(self, request):
        return Response(catalog_export())

    @extend_schema(
        summary="Import a catalog (merge by slug)",
        request=dict,
        responses={200: dict},
        parameters=[
            OpenApiParameter(
                "restore_status",
                bool,
                description="Superusers only: bring each failure mode to the document's "
                "status through the workflow (see docs/catalog.md). Without it new entries "
                "are drafts and published entries get a pending revision.",
            )
        ],
        description=(
            "All or nothing: any problem answers 400 with every error by path "
            "(`failure_modes[3].severity`) and nothing is written. Unknown keys are refused. "
            "`created_by`, `published_by` and `published_at` are never applied: the importer "
            "is the author of everything the import writes."
        ),
    )
    def post(self, request):
        raw = request.query_params.get("restore_status", "")
        if raw not in ("", "0", "1", "true", "false"):
            return error_response({"restore_status": ["Use 1 or 0."]}, 400)
        result = catalog_import(
            data=request.data, user=request.user, restore_status=raw in ("1", "true")
        )
        return Response(
            {
                "created": result.created,
                "updated": result.updated,
                "proposed": result.proposed,
                "warnings": result.warnings,
            }
        )
