from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "reviewapp.governance"
    label = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        from .services.notices import register_notification_kinds

        register_notification_kinds()

        from reviewapp.core import registry as hooks

        from .services import evidence as evidence_services
        from .services.common import EVIDENCE_REQUESTED_HOOK
        from .tasks import EVIDENCE_FAILED_HOOK, EVIDENCE_READY_HOOK, EVIDENCE_STARTED_HOOK

        hooks.register_hook(
            EVIDENCE_REQUESTED_HOOK, evidence_services.change_request_evidence_request
        )
        hooks.register_hook(EVIDENCE_READY_HOOK, evidence_services.change_request_evidence_ready)
        hooks.register_hook(
            EVIDENCE_STARTED_HOOK, evidence_services.change_request_evidence_started
        )
        hooks.register_hook(EVIDENCE_FAILED_HOOK, evidence_services.change_request_evidence_failed)

        from django.utils.translation import gettext_lazy as _

        from reviewapp.core import registry
        from reviewapp.core.roles import COMMITTEE, ENGINEER, LEAD, REVIEWER

        registry.register_nav_section(
            key="governance",
            label=_("Governance"),
            url_name="governance:home",
            roles={COMMITTEE, LEAD, ENGINEER},
            order=30,
        )
        registry.register_role_permissions(
            self.label,
            {
                REVIEWER: ["view_policyversion"],
                LEAD: ["view_policyversion", "view_documentversion", "view_changerequest"],
                COMMITTEE: [
                    "view_policyversion",
                    "approve_policychange",
                    "view_documentversion",
                    "view_changerequest",
                ],
                ENGINEER: ["view_policyversion", "view_documentversion", "view_changerequest"],
            },
        )
