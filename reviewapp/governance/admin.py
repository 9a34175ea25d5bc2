from django import forms
from django.contrib import admin

from reviewapp.core.audit import Actor

from .models import PolicyVersion
from .rules import validate_rules
from .services import policy_version_activate, policy_version_create


class PolicyVersionForm(forms.ModelForm):
    class Meta:
        model = PolicyVersion
        fields = ["model_slug", "rules", "note"]

    def clean(self):
        cleaned = super().clean()
        rules = cleaned.get("rules")
        if rules is not None:
            for path, problems in validate_rules(rules).items():
                self.add_error("rules", f"{path}: {' '.join(problems)}")
        return cleaned


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Versions are created here or by `create_policy_version`; never edited afterwards."""

    form = PolicyVersionForm
    list_display = ["model_slug", "version", "short_hash", "is_active", "created_at", "created_by"]
    list_filter = ["model_slug", "is_active"]
    actions = ["activate_selected"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["rules_hash"]
        return [f.name for f in self.model._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        # Existing versions are immutable; new ones are created through the service above.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        created = policy_version_create(
            model_slug=obj.model_slug,
            rules=obj.rules,
            note=obj.note,
            actor=Actor.user(request.user),
            created_by=request.user,
        )
        obj.pk = created.pk
        obj.version = created.version

    @admin.action(description="Activate the selected version (one per model)")
    def activate_selected(self, request, queryset) -> None:
        for policy in queryset:
            policy_version_activate(policy=policy, actor=Actor.user(request.user))
        self.message_user(request, f"Activated {queryset.count()} version(s).")
