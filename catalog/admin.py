from django.contrib import admin

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
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "parent", "position"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "dimension"]
    list_filter = ["dimension"]


class LinkInline(admin.TabularInline):
    model = FailureModeMitigation
    extra = 0
    autocomplete_fields = ["mitigation"]


@admin.register(FailureMode)
class FailureModeAdmin(admin.ModelAdmin):
    """Read-mostly: edits go through the catalog pages so they are versioned and audited."""

    list_display = ["title", "severity", "status", "category", "owner", "next_review_on"]
    list_filter = ["status", "severity", "category"]
    search_fields = ["title", "slug"]
    readonly_fields = ["status", "version", "occurrence_count", "published_by", "published_at"]
    inlines = [LinkInline]


@admin.register(MitigationTemplate)
class MitigationAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "owner", "next_review_on"]
    list_filter = ["kind"]
    search_fields = ["title", "slug"]


@admin.register(CaseStudy)
class CaseStudyAdmin(admin.ModelAdmin):
    list_display = ["title", "occurred_on"]
    search_fields = ["title"]


@admin.register(Occurrence)
class OccurrenceAdmin(admin.ModelAdmin):
    list_display = ["failure_mode", "source_type", "source_id", "occurred_at"]
    list_filter = ["source_type"]


@admin.register(Revision)
class RevisionAdmin(admin.ModelAdmin):
    list_display = ["kind", "object_id", "number", "author", "created_at", "note"]
    list_filter = ["kind"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
