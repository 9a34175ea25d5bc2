"""Catalog API: the same search as the page (one FilterSet, one ranking), plus export/import."""

from __future__ import annotations

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

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

    def get_queryset(self):
        return selectors.failure_modes_base()

    def list(self, request, *args, **kwargs):
        with index_scans(TextSearch(request.query_params.get("q", ""))):
            return super().list(request, *args, **kwargs)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        # DjangoFilterBackend built the filterset from the same query string; rank with it.
        search = FailureModeFilter(self.request.query_params, queryset=queryset).search
        sort = self.request.query_params.get("sort") or "relevance"
        if sort not in SORTS:
            raise serializers.ValidationError({"sort": [f"Choose one of: {', '.join(SORTS)}."]})
        return selectors.failure_modes_sorted(queryset, search=search, sort=sort)


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
        description="All or nothing: any problem answers 400 with every error by path.",
    )
    def post(self, request):
        result = catalog_import(data=request.data, user=request.user)
        return Response(
            {"created": result.created, "updated": result.updated, "warnings": result.warnings}
        )
