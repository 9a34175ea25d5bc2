"""At sign-in, note in the session whether the account has an authenticator."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .middleware import remember_device
from .selectors import has_second_factor


@receiver(user_logged_in, dispatch_uid="accounts-remember-device")
def _remember_device(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        remember_device(request, has_device=has_second_factor(user))
