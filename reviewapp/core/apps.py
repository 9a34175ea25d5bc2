from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "reviewapp.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from . import roles

        # Apps added later declare permissions their roles need; keep groups in step.
        post_migrate.connect(roles.sync_role_permissions_signal, dispatch_uid="core-sync-roles")
