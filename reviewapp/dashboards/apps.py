from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardsConfig(AppConfig):
    name = "reviewapp.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        from reviewapp.core import registry
        from reviewapp.core.roles import COMMITTEE, ENGINEER, LEAD, REVIEWER

        registry.register_nav_section(
            key="dashboards",
            label=_("Dashboards"),
            url_name="dashboards:overview",
            roles={REVIEWER, LEAD, COMMITTEE, ENGINEER},
            order=20,
        )
        # Governance validates rollback triggers against the 5-minute metrics without
        # importing dashboards.
        from .rules import METRICS

        registry.register_hook("governance.metric_names", lambda: sorted(METRICS))
        # ... and says what each one measures, for the request page and the form.
        registry.register_hook(
            "governance.metric_labels", lambda: {m.name: m.label for m in METRICS.values()}
        )
        # ... and evaluates them on the 5-minute buckets for the rollback-trigger check.
        from .selectors import trigger_evaluate

        registry.register_hook("governance.evaluate_trigger", trigger_evaluate)
