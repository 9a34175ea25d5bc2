from django.apps import AppConfig


class FailsafeConfig(AppConfig):
    name = "reviewapp.failsafe"
    label = "failsafe"
    verbose_name = "Fail-safe"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()
