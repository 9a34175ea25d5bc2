"""The admin shows audited data; it never writes it.

Every change to a model whose history matters goes through a service (which checks the rules
and writes the audit event) or, for people and roles, is recorded by core.signals. The admin
would bypass both, so the ModelAdmins of audited models mix in ``AuditedReadOnlyAdmin``:
no add, change or delete for anyone, superusers included. Users and groups stay editable in
the admin: core.signals records those changes.
"""

from django.contrib import admin

from .models import AuditEvent, AuditSeal, AuditVerification


class AuditedReadOnlyAdmin:
    """Mix into a ModelAdmin (or inline) of an audited model: it may be viewed, never
    written, because the admin's writes would carry no audit event."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# The old name, kept for callers that imported it.
class ReadOnlyAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
    pass


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "actor_label", "verb", "target_type", "target_id"]
    list_filter = ["verb", "actor_type", "target_type"]
    search_fields = ["target_id", "actor_label", "request_id"]


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    list_display = ["seq", "event_id", "key_id", "hash", "sealed_at"]


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "finished_at", "trigger", "ok", "sealed", "first_bad_seq"]
