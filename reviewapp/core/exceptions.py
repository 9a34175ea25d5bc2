from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied


class ServiceError(Exception):
    """A rule violation raised by a service; the API and views turn it into a clear 4xx.

    ``errors`` maps a field path (``"output.label"``) to messages; ``status`` is the HTTP
    status that fits (400 bad input, 403 not allowed, 404 unknown, 409 conflict/stale, 422).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        errors: dict[str, list[str]] | None = None,
        code: str = "invalid",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.errors = errors or {"detail": [message]}


class NotFound(ServiceError):
    def __init__(self, message: str, *, field: str = "detail") -> None:
        super().__init__(message, status=404, errors={field: [message]}, code="not_found")


class PermissionDenied(ServiceError):
    def __init__(self, message: str, *, field: str = "detail") -> None:
        super().__init__(message, status=403, errors={field: [message]}, code="forbidden")


class Conflict(ServiceError):
    def __init__(self, message: str, *, field: str = "detail", code: str = "conflict") -> None:
        super().__init__(message, status=409, errors={field: [message]}, code=code)


class RoleRequired(DjangoPermissionDenied):
    """A page or action the caller's roles do not include: the 403 page names the roles that
    may (``roles``) and, for something that belongs to one model (``model``, its slug), the
    model's pool and the people to ask (core's ``core.model_contacts`` hook). A subclass of
    Django's PermissionDenied, so the project's handler403 renders it."""

    def __init__(
        self, message: str = "", *, roles: Iterable[str] = (), model: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.roles = tuple(roles)
        self.model = model
