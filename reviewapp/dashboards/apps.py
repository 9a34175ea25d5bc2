from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "reviewapp.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()
