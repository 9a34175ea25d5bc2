"""Who may call the queue app's API: producers (service tokens) and signed-in people by role."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from reviewapp.core import roles


class IsServiceAccount(BasePermission):
    message = "Only a service account token may send predictions."

    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "is_service", False)


class CanReadPredictions(BasePermission):
    """Service accounts read their own models' records; signed-in staff with view rights too."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if getattr(user, "is_service", False):
            return True
        return bool(user and user.is_authenticated and user.has_perm("reviewapp.view_prediction"))


class CanReadQueue(BasePermission):
    message = "Only reviewers, leads and engineers may read the queue."

    def has_permission(self, request, view) -> bool:
        if getattr(request.user, "is_service", False):
            return False  # producers read their predictions, not the queue
        return roles.has_role(request.user, roles.REVIEWER, roles.LEAD, roles.ENGINEER)


class CanReview(BasePermission):
    message = "Only reviewers and leads may claim and decide review items."

    def has_permission(self, request, view) -> bool:
        if getattr(request.user, "is_service", False):
            return False
        return roles.has_role(request.user, roles.REVIEWER, roles.LEAD)
