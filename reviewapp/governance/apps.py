from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "reviewapp.governance"
    label = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()
