from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "reviewapp.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from . import checks, roles  # noqa: F401 - checks register themselves

        # Apps declare the permissions their roles need; keep the groups in step.
        post_migrate.connect(roles.sync_role_permissions_signal, dispatch_uid="core-sync-roles")
