from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models.manager import EmptyManager
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from reviewapp.core.tokens import token_from_header
from reviewapp.models import ServiceAccount


class ServicePrincipal:
    """What `request.user` is for a service account: authenticated, but not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_service = True
    pk = None

    # Empty, as on Django's AnonymousUser: code that reads a principal's groups or
    # permissions gets none rather than an AttributeError.
    groups = EmptyManager(Group)
    user_permissions = EmptyManager(Permission)

    def __init__(self, account: ServiceAccount) -> None:
        self.account = account
        self.username = f"service:{account.name}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def get_all_permissions(self, obj: Any = None) -> set[str]:
        return set()

    def __str__(self) -> str:
        return self.username


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        from reviewapp.services.accounts import service_account_for_token

        token = token_from_header(request, self.keyword)
        if token is None:
            return None
        account = service_account_for_token(token)
        if account is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        return ServicePrincipal(account), account

    def authenticate_header(self, request) -> str:
        return self.keyword


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    """Describes service tokens in the OpenAPI schema."""

    target_class = "reviewapp.auth.ServiceTokenAuthentication"
    name = "ServiceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Service-account token: `Authorization: Token fs_<prefix>_<secret>`.",
        }
