from django.apps import AppConfig


class FailsafeConfig(AppConfig):
    name = "reviewapp.failsafe"
    label = "failsafe"
    verbose_name = "Fail-safe"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        # --- modes ---
        from reviewapp.core import registry

        from . import notices
        from .services import modes

        notices.register_notification_kinds()
        registry.register_hook(modes.MODE_CHANGED_HOOK, modes.producer_event)
        registry.register_hook(modes.MODE_CHANGED_HOOK, notices.mode_changed)
