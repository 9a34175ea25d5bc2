from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "reviewapp.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.conf import settings

        from . import checks, notifications, registry, roles, signals, signin, verbs  # noqa: F401

        # Apps declare the permissions their roles need; keep the groups in step.
        post_migrate.connect(roles.sync_role_permissions_signal, dispatch_uid="core-sync-roles")
        verbs.register(prefix=verbs.CORE_PREFIX, verbs=verbs.CORE_VERBS)
        signals.connect()
        registry.register_tool(
            key="audit",
            label=_("Audit log"),
            url_name="core:audit-list",
            roles=[roles.LEAD, roles.COMMITTEE],
            order=90,
        )
        # Notifications (core/notifications.py): their verbs; apps register their kinds.
        verbs.register(prefix=notifications.VERB_PREFIX, verbs=notifications.VERBS)
        if settings.AUDIT_ALLOW_TEST_TRUNCATE:
            connection_created.connect(allow_audit_truncate, dispatch_uid="core-audit-truncate")

        # Sign-in throttling (core/signin.py): its verbs, its audit, the leads' page.
        verbs.register(prefix=signin.VERB_PREFIX, verbs=signin.VERBS)
        user_locked_out.connect(signin.on_user_locked_out, dispatch_uid="core-signin-locked-out")
        notifications.register_kind(
            key=signin.NOTIFY_KIND,
            label=_("Sign-in lockouts"),
            channels=[notifications.IN_APP, notifications.EMAIL],
            description=_("Leads: someone's sign-in was locked out after repeated failures."),
            order=95,
        )
        registry.register_tool(
            key="signin-lockouts",
            label=_("Sign-in lockouts"),
            url_name="signin-lockouts",
            roles={roles.LEAD},
            order=95,
        )


def allow_audit_truncate(sender, connection, **kwargs) -> None:
    """Test settings only: Django's test runner empties tables with TRUNCATE between
    transactional tests, which the audit tables' trigger refuses unless the session asks."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET failsafe.allow_audit_truncate = on")
