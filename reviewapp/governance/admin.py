"""Governed documents and change requests, read-only: they change only through the
change-request services (docs/policies.md, "Change requests"), which check the committee's
rules and write the audit; the admin would bypass both."""

from django.contrib import admin

from reviewapp.core.admin import AuditedReadOnlyAdmin

from .models import (
    Approval,
    ApprovalRule,
    ChangeRequest,
    ChangeRequestComment,
    DocumentVersion,
    PolicyVersion,
)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["model_slug", "version", "short_hash", "is_active", "activated_at",
                    "change_request", "created_by"]  # fmt: skip
    list_filter = ["model_slug", "is_active"]


@admin.register(DocumentVersion)
class DocumentVersionAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["model_slug", "kind", "version", "document_hash", "is_active", "activated_at",
                    "change_request"]  # fmt: skip
    list_filter = ["kind", "model_slug", "is_active"]


class ApprovalInline(AuditedReadOnlyAdmin, admin.TabularInline):
    model = Approval
    extra = 0


class CommentInline(AuditedReadOnlyAdmin, admin.TabularInline):
    model = ChangeRequestComment
    extra = 0
    exclude = ["html"]


@admin.register(ChangeRequest)
class ChangeRequestAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["id", "model_slug", "kind", "status", "stale", "base_version",
                    "applied_version", "proposer", "updated_at"]  # fmt: skip
    list_filter = ["kind", "status", "stale", "is_emergency"]
    search_fields = ["model_slug", "rationale"]
    inlines = [ApprovalInline, CommentInline]


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["model_slug", "approver_group", "required_approvals", "updated_at"]
