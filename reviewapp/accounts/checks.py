from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from .policy import KNOWN


@register()
def check_required_roles(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A misspelt role in OTP_REQUIRED_ROLES would silently require nobody: refuse it."""
    unknown = sorted(set(settings.OTP_REQUIRED_ROLES) - KNOWN)
    if not unknown:
        return []
    return [
        Error(
            f"OTP_REQUIRED_ROLES names unknown role(s): {', '.join(unknown)}.",
            hint=f"Use any of: {', '.join(sorted(KNOWN))}.",
            id="accounts.E001",
        )
    ]
