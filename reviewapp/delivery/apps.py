from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "reviewapp.delivery"
    label = "delivery"
    verbose_name = "Decision delivery"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()
