from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "reviewapp.delivery"
    label = "delivery"
    verbose_name = "Decision delivery"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()

        from reviewapp.core import registry
        from reviewapp.core.roles import ENGINEER, LEAD

        registry.register_tool(
            key="delivery", label=_("Decision delivery"), url_name="delivery:list",
            roles={LEAD}, order=10,
        )  # fmt: skip
        registry.register_tool(
            key="export-labels", label=_("Export labels"), url_name="delivery:export",
            roles={LEAD, ENGINEER}, order=20,
        )  # fmt: skip
        registry.register_role_permissions(self.label, {LEAD: ["view_delivery", "retry_delivery"]})
