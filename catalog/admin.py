"""Catalog entries in the admin: read-only (AuditedReadOnlyAdmin). Failure modes,
mitigations, case studies and occurrences change through the catalog pages and services,
which version and audit them; categories and tags through a data migration.
"""

from django.contrib import admin

from reviewapp.core.admin import AuditedReadOnlyAdmin

from .models import (
    CaseStudy,
    Category,
    FailureMode,
    FailureModeMitigation,
    MitigationTemplate,
    Occurrence,
    Revision,
    Tag,
)


@admin.register(Category)
class CategoryAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["name", "slug", "parent", "position"]


@admin.register(Tag)
class TagAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["name", "dimension"]
    list_filter = ["dimension"]


class LinkInline(AuditedReadOnlyAdmin, admin.TabularInline):
    model = FailureModeMitigation
    extra = 0
    autocomplete_fields = ["mitigation"]


@admin.register(FailureMode)
class FailureModeAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["title", "severity", "status", "category", "owner", "next_review_on"]
    list_filter = ["status", "severity", "category"]
    search_fields = ["title", "slug"]
    readonly_fields = ["status", "version", "occurrence_count", "published_by", "published_at"]
    inlines = [LinkInline]


@admin.register(MitigationTemplate)
class MitigationAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["title", "kind", "owner", "next_review_on"]
    list_filter = ["kind"]
    search_fields = ["title", "slug"]


@admin.register(CaseStudy)
class CaseStudyAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["title", "occurred_on"]
    search_fields = ["title"]


@admin.register(Occurrence)
class OccurrenceAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["failure_mode", "source_type", "source_id", "occurred_at"]
    list_filter = ["source_type"]


@admin.register(Revision)
class RevisionAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["kind", "object_id", "number", "author", "created_at", "note"]
    list_filter = ["kind"]
