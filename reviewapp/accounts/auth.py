"""``Authorization: Bearer fsp_…``: a person's API token, acting as that person."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from reviewapp.core import clock
from reviewapp.core.tokens import token_from_header

from .selectors import personal_token_for
from .services import personal_token_touch


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    """The request is the token's person: their roles, pools and permissions, no more.

    Service tokens use the ``Token`` keyword and an ``fs_`` token; a personal token is sent as
    ``Bearer`` and starts ``fsp_``, so neither is ever taken for the other.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        token = token_from_header(request, self.keyword)
        if token is None:
            return None
        record = personal_token_for(token)
        if record is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        personal_token_touch(record=record, now=clock.now())
        return record.user, record

    def authenticate_header(self, request) -> str:
        return self.keyword


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "reviewapp.accounts.auth.PersonalTokenAuthentication"
    name = "PersonalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A person's API token (My account): `Authorization: Bearer fsp_…`.",
        }
