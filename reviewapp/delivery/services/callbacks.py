"""A model's callback settings: the URL deliveries go to and the secret that signs them."""

from __future__ import annotations

from django.db import transaction

from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import ServiceError
from reviewapp.models import MLModel

from ..validators import (
    UnsafeCallbackURL,
    check_callback_url,
    generate_callback_secret,
    secret_key_bytes,
)


def model_callback_configure(
    *,
    model: MLModel,
    callback_url: str,
    callback_secret: str = "",
    rotate_secret: bool = False,
    actor: Actor,
) -> str | None:
    """Set a model's callback URL (checked for safety) and signing secret.

    Returns a newly generated secret (to show once), or None. A URL without any secret gets
    one generated: deliveries are never sent unsigned. The secret itself is never audited.
    """
    errors: dict[str, list[str]] = {}
    if callback_url:
        try:
            check_callback_url(callback_url)
        except UnsafeCallbackURL as exc:
            errors["callback_url"] = [str(exc)]
    if callback_secret:
        try:
            secret_key_bytes(callback_secret)
        except ValueError as exc:
            errors["callback_secret"] = [str(exc)]
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    with transaction.atomic():
        model = MLModel.objects.select_for_update().get(pk=model.pk)
        before = {"callback_url": model.callback_url, "has_secret": bool(model.callback_secret)}
        generated = None
        if callback_secret:
            model.callback_secret = callback_secret
        elif rotate_secret or (callback_url and not model.callback_secret):
            generated = model.callback_secret = generate_callback_secret()
        model.callback_url = callback_url
        model.save(update_fields=["callback_url", "callback_secret"])
        audit_record(
            actor=actor,
            verb="delivery.callback.configured",
            target=model,
            before=before,
            after={"callback_url": model.callback_url, "has_secret": bool(model.callback_secret)},
            data={"secret_changed": bool(callback_secret or generated)},
        )
    return generated
