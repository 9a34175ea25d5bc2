from django.apps import AppConfig


class FailsafeConfig(AppConfig):
    name = "reviewapp.failsafe"
    label = "failsafe"
    verbose_name = "Fail-safe"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        # --- modes: the pages ---
        from django.utils.translation import gettext_lazy as _

        from reviewapp.core import registry
        from reviewapp.core.roles import COMMITTEE, ENGINEER, LEAD, REVIEWER

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
