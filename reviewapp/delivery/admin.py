from django import forms
from django.contrib import admin

from reviewapp.core.admin import AuditedReadOnlyAdmin
from reviewapp.core.forms import NormalizedTextMixin
from reviewapp.models import MLModel

from .models import Delivery, DeliveryAttempt
from .validators import validate_callback_url


class _ReadOnly(AuditedReadOnlyAdmin, admin.ModelAdmin):
    """The outbox is written by services only; the admin shows it."""


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "status_code", "outcome", "error", "duration_ms"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = ["id", "event_type", "model", "item_id", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "kind", "model"]
    search_fields = ["message_id", "item__id"]
    list_select_related = ["model"]
    inlines = [DeliveryAttemptInline]


class MLModelCallbackForm(NormalizedTextMixin, forms.ModelForm):
    """Callback URLs entered in the admin get the same safety check as everywhere else. The
    signing secret is not shown here: it is set (and shown once) on the callback page."""

    callback_url = forms.URLField(required=False, max_length=200, assume_scheme="https")

    class Meta:
        model = MLModel
        fields = [
            "slug",
            "name",
            "owner_team",
            "criticality",
            "strict_output",
            "labels",
            "description",
            "callback_url",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "callback_url" in self.fields:
            self.fields["callback_url"].validators.append(validate_callback_url)


# The queue app owns MLModel; if it registers its own admin, that one wins and should use
# MLModelCallbackForm (or the two validators) for the callback fields.
if not admin.site.is_registered(MLModel):

    @admin.register(MLModel)
    class MLModelAdmin(AuditedReadOnlyAdmin, admin.ModelAdmin):
        """Read-only: criticality, strict output and labels are governed settings (a change
        request), the callback is set on the delivery pages (model_callback_configure), both
        audited."""

        form = MLModelCallbackForm
        list_display = ["slug", "name", "criticality", "strict_output", "callback_url"]
        search_fields = ["slug", "name"]
