from django.apps import AppConfig


class ReviewAppConfig(AppConfig):
    name = "reviewapp"
    label = "reviewapp"
    verbose_name = "Review queue"

    def ready(self) -> None:
        from .verbs import register_audit_verbs

        register_audit_verbs()
