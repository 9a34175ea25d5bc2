from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "reviewapp.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from . import checks, registry, roles, signin, verbs  # noqa: F401 - checks register

        # Apps declare the permissions their roles need; keep the groups in step.
        post_migrate.connect(roles.sync_role_permissions_signal, dispatch_uid="core-sync-roles")

        # Sign-in throttling (core/signin.py): its verbs, its audit, the leads' page.
        verbs.register(prefix=signin.VERB_PREFIX, verbs=signin.VERBS)
        user_locked_out.connect(signin.on_user_locked_out, dispatch_uid="core-signin-locked-out")
        registry.register_tool(
            key="signin-lockouts", label=_("Sign-in lockouts"), url_name="signin-lockouts",
            roles={roles.LEAD}, order=90,
        )  # fmt: skip
