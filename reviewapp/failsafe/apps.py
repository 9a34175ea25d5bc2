from django.apps import AppConfig


class FailsafeConfig(AppConfig):
    name = "reviewapp.failsafe"
    label = "failsafe"
    verbose_name = "Fail-safe"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        # --- monitors ---
        from reviewapp.core import registry

        from . import monitors

        registry.register_hook("failsafe.metric_snapshot", monitors.metric_snapshot)
        registry.register_hook("failsafe.monitor_states", monitors.monitor_states)
        registry.register_hook("governance.monitors_defaults", monitors.monitors_defaults)
