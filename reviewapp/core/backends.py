"""The login backend: Django's model backend with a leaner per-request user load."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from reviewapp.core import registry, roles
from reviewapp.core.models import Notification


def _unread_count() -> Coalesce:
    """The top bar's bell: the user's unread notifications, counted over their partial index
    inside the user's own query, so no page pays a query of its own for it."""
    unread = (
        Notification.objects.filter(recipient=OuterRef("pk"), read_at__isnull=True)
        .order_by()
        .values("recipient")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(unread), Value(0))


class AccountBackend(ModelBackend):
    """Every signed-in request loads its user here; the time-zone preference and the unread
    notifications count come in the same query, and on PostgreSQL the role names too (one
    query instead of four per request)."""

    def get_user(self, user_id: Any) -> Any:
        users = (
            get_user_model()
            ._default_manager.select_related("preference")
            .annotate(notifications_unread=_unread_count())
        )
        # Apps add their own per-person figures for the top bar the same way (the hook
        # ``core.user_annotations``: fn() -> {attribute: expression over the user's pk}), so
        # a count shown on every page never costs a page a query of its own.
        for extra in registry.run_hooks("core.user_annotations"):
            users = users.annotate(**extra)
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
