"""The login backend: Django's model backend with a leaner per-request user load."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Q

from reviewapp.core import roles


class AccountBackend(ModelBackend):
    """Every signed-in request loads its user here; the time-zone preference comes in the same
    query, and on PostgreSQL the role names too (one query instead of three per request)."""

    def get_user(self, user_id: Any) -> Any:
        users = get_user_model()._default_manager.select_related("preference")
        with_roles = connection.vendor == "postgresql"
        if with_roles:
            users = users.annotate(
                role_names=ArrayAgg(
                    "groups__name", filter=Q(groups__isnull=False), distinct=True, default=[]
                )
            )
        user = users.filter(pk=user_id).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        if with_roles:
            roles.remember_roles(user, user.role_names)
        return user
