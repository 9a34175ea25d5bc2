from django.apps import AppConfig


class FailsafeConfig(AppConfig):
    name = "reviewapp.failsafe"
    label = "failsafe"
    verbose_name = "Fail-safe"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        # --- alerts ---
        # --- modes: the pages ---
        from django.utils.translation import gettext_lazy as _

        from reviewapp.core import registry
        from reviewapp.core.roles import COMMITTEE, ENGINEER, LEAD, REVIEWER

        from . import alert_selectors
        from .services import alert_notices

        alert_notices.register_notification_kinds()
        registry.register_hook(alert_notices.OPENED_HOOK, alert_notices.alert_opened)
        registry.register_hook(alert_notices.RESOLVED_HOOK, alert_notices.alert_resolved)
        registry.register_hook("failsafe.alert_escalated", alert_notices.alert_escalated)
        # /metrics (dashboards) reads the unresolved alerts per model and severity here.
        registry.register_hook("failsafe.open_alert_counts", alert_selectors.open_alert_counts)
        # --- monitors ---
        from reviewapp.core import registry

        from . import monitors

        registry.register_hook("failsafe.metric_snapshot", monitors.metric_snapshot)
        registry.register_hook("failsafe.monitor_states", monitors.monitor_states)
        registry.register_hook("failsafe.monitor_states_many", monitors.monitor_states_many)
        registry.register_hook("governance.monitors_defaults", monitors.monitors_defaults)
        # --- data quality ---
        from reviewapp.core import registry

        from .services.profiles import data_quality_checks

        # Routing (the queue) asks for each chunk's checkers through this hook.
        registry.register_hook("queue.data_quality_checks", data_quality_checks)
        from . import selectors as mode_selectors
        from .views import modes as mode_views

        registry.register_nav_section(
            key="failsafe",
            label=_("Fail-safe"),
            url_name="failsafe:overview",
            roles={LEAD, ENGINEER, COMMITTEE, REVIEWER},
            order=25,
        )
        registry.register_hook("core.model_banners", mode_selectors.model_banners)
        registry.register_hook("core.model_actions", mode_views.model_actions)
        # --- modes ---
        from reviewapp.core import registry

        from . import notices
        from .services import modes

        notices.register_notification_kinds()
        registry.register_hook(modes.MODE_CHANGED_HOOK, modes.producer_event)
        registry.register_hook(modes.MODE_CHANGED_HOOK, notices.mode_changed)
