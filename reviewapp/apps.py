from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class ReviewAppConfig(AppConfig):
    name = "reviewapp"
    label = "reviewapp"
    verbose_name = "Review queue"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        from reviewapp.core import registry
        from reviewapp.core.roles import COMMITTEE, ENGINEER, LEAD, REVIEWER

        registry.register_nav_section(
            key="queue",
            label=_("Queue"),
            url_name="queue:list",
            roles={REVIEWER, LEAD, ENGINEER},
            order=10,
        )
        registry.register_tool(
            key="rejected-envelopes",
            label=_("Rejected envelopes"),
            url_name="rejected-envelopes",
            roles={LEAD, ENGINEER},
            order=30,
        )
        registry.register_tool(
            key="my-decisions",
            label=_("My decisions"),
            url_name="queue:mine",
            roles={REVIEWER, LEAD},
            order=5,
        )
        from .services.escalations import escalated_count, register_notification_kinds

        register_notification_kinds()
        registry.register_nav_counter(
            key="escalations",
            label=_("Escalations"),
            url_name="queue:escalations",
            roles={LEAD},
            count=escalated_count,
            order=10,
        )
        read = ["view_mlmodel", "view_prediction", "view_reviewitem"]
        registry.register_role_permissions(
            self.label,
            {
                REVIEWER: [*read, "decide_reviewitem"],
                LEAD: [
                    *read,
                    "decide_reviewitem",
                    "manage_queue",
                    "view_rejectedenvelope",
                    # Not change_mlmodel: criticality changes only by a change request.
                    "configure_callback",
                    # How inputs are shown to reviewers: not governed (routing never reads it).
                    "configure_presentation",
                ],
                COMMITTEE: read,
                ENGINEER: [*read, "view_rejectedenvelope"],
            },
        )
        # Governance reads models and applies model settings through hooks (it imports
        # nothing from the queue).
        from .services.model_settings import (
            model_info_for_governance,
            model_infos_for_governance,
            model_settings_apply,
            visible_model_for_governance,
        )

        registry.register_hook("governance.model_info", model_info_for_governance)
        registry.register_hook("governance.model_infos", model_infos_for_governance)
        registry.register_hook("governance.model_settings_applied", model_settings_apply)
        registry.register_hook("governance.visible_model", visible_model_for_governance)
        from .selectors.queue import model_contacts

        # The 403 page names a model's pool and who to ask to join it.
        registry.register_hook("core.model_contacts", model_contacts)
        # Every API body is bounded; a batch of predictions may be larger than one.
        registry.register_body_limit(
            path="/api/", prefix=True, limit=lambda: settings.INGEST_MAX_BODY_BYTES
        )
        registry.register_body_limit(
            path="/api/v1/predictions/batch", limit=lambda: settings.INGEST_MAX_BATCH_BODY_BYTES
        )
