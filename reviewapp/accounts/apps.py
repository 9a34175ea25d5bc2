from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """A person's own account: two-factor sign-in, personal API tokens, password, time zone.

    Its own app rather than part of core: it has models, pages and URLs, and core stays the
    layer every app uses without any of them. It imports only core (pyproject's contracts).
    """

    name = "reviewapp.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from reviewapp.core import registry

        from . import checks, signals  # noqa: F401 - register themselves
        from .verbs import register_audit_verbs

        register_audit_verbs()
        registry.register_tool(
            key="account", label=_("My account"), url_name="accounts:account", roles=None, order=1
        )
