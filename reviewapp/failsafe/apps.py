from django.apps import AppConfig


class FailsafeConfig(AppConfig):
    name = "reviewapp.failsafe"
    label = "failsafe"
    verbose_name = "Fail-safe"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        # --- data quality ---
        from reviewapp.core import registry

        from .services.profiles import data_quality_checks

        # Routing (the queue) asks for each chunk's checkers through this hook.
        registry.register_hook("queue.data_quality_checks", data_quality_checks)
