"""What every incident endpoint shares: who may call it, and the incident it names (a 404
exactly like an unknown id when the caller may not read it)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from reviewapp.core.exceptions import NotFound
from reviewapp.core.params import DB_INT_MAX

from ..models import Incident
from . import selectors


class CanReadIncidents(BasePermission):
    """A person with a role (session or personal token); never a service token."""

    message = _("Incidents are for people with a role in Failsafe.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return not getattr(user, "is_service", False) and selectors.may_read_any(user)


def incident_or_404(request: Request, pk: Any) -> Incident:
    """The incident ``pk`` names if the caller may read it; NotFound (404, field ``id``)."""
    found = None
    if isinstance(pk, int) and 0 < pk <= DB_INT_MAX:
        found = selectors.incident_for(request.user, pk)
    if found is None:
        raise NotFound(_("No incident INC-%s.") % pk, field="id")
    return found
