"""Form helpers every app's HTML forms share."""

from __future__ import annotations

import re

from .exceptions import ServiceError


class ServiceErrorsMixin:
    """Puts a service's errors on the form's fields: the form checks shape, the service
    enforces rules, and its errors show next to the field they name.

    A service names a field by its key (``"title"``), an item of a list (``"links[2]"`` is
    ``links``) or a nested key (``"tags.domain"`` is the form field ``tags_domain``).
    ``field_aliases`` renames a key to a field, or to None for an error above the form; a
    key the form has no field for is shown above the form too. Mix into a ``forms.Form``.
    """

    field_aliases: dict[str, str | None] = {}

    def service_error_field(self, key: str) -> str | None:
        name = re.sub(r"\[\d+\]$", "", key).replace(".", "_")
        target = self.field_aliases.get(name, name)
        return target if target in self.fields else None

    def add_service_errors(self, exc: ServiceError) -> None:
        for key, messages in exc.errors.items():
            target = self.service_error_field(key)
            for message in messages:
                self.add_error(target, message)
