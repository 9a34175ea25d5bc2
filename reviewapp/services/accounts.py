from __future__ import annotations

import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, ServiceError
from reviewapp.core.tokens import token_digest, token_matches, token_new, token_prefix
from reviewapp.models import MLModel, ServiceAccount

TOKEN_PREFIX = "fs"
_NAME_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _hash(token: str) -> str:
    return token_digest(token)


def _new_token() -> tuple[str, str]:
    return token_new(TOKEN_PREFIX)


@dataclass
class IssuedToken:
    account: ServiceAccount
    token: str


@transaction.atomic
def service_account_create(
    *, name: str, model_slugs: list[str] | None, actor: Actor
) -> IssuedToken:
    if not _NAME_SHAPE.fullmatch(name or ""):
        raise ServiceError(
            "A service account name is 1 to 100 letters, digits, '-' or '_'.",
            errors={"name": ["Use 1 to 100 letters, digits, '-' or '_'."]},
        )
    if ServiceAccount.objects.filter(name=name).exists():
        raise Conflict(f"A service account named '{name}' already exists.", field="name")
    models = []
    if model_slugs:
        found = {m.slug: m for m in MLModel.objects.filter(slug__in=model_slugs)}
        missing = [s for s in model_slugs if s not in found]
        if missing:
            raise ServiceError(
                f"Unknown model(s): {', '.join(missing)}.",
                errors={"models": [f"Unknown model(s): {', '.join(missing)}."]},
            )
        models = list(found.values())
    prefix, token = _new_token()
    account = ServiceAccount.objects.create(
        name=name, token_prefix=prefix, token_hash=_hash(token), all_models=not model_slugs
    )
    account.allowed_models.set(models)
    audit_record(
        actor=actor,
        verb="queue.service_account.created",
        target=account,
        after={
            "name": name,
            "models": sorted(m.slug for m in models),
            "all_models": account.all_models,
        },
    )
    return IssuedToken(account, token)


def _get_active(name: str) -> ServiceAccount:
    account = ServiceAccount.objects.select_for_update().filter(name=name).first()
    if account is None:
        raise NotFound(f"No service account named '{name}'.", field="name")
    return account


@transaction.atomic
def service_token_rotate(*, name: str, actor: Actor) -> IssuedToken:
    account = _get_active(name)
    prefix, token = _new_token()
    account.token_prefix = prefix
    account.token_hash = _hash(token)
    account.rotated_at = clock.now()
    account.revoked_at = None
    account.save(update_fields=["token_prefix", "token_hash", "rotated_at", "revoked_at"])
    audit_record(actor=actor, verb="queue.service_account.token_rotated", target=account)
    return IssuedToken(account, token)


@transaction.atomic
def service_token_revoke(*, name: str, actor: Actor) -> ServiceAccount:
    account = _get_active(name)
    if account.revoked_at is None:
        account.revoked_at = clock.now()
        account.save(update_fields=["revoked_at"])
        audit_record(actor=actor, verb="queue.service_account.token_revoked", target=account)
    return account


def service_account_for_token(token: str) -> ServiceAccount | None:
    prefix = token_prefix(token, TOKEN_PREFIX)
    if prefix is None:
        return None
    digest = _hash(token)
    ttl = settings.SERVICE_TOKEN_CACHE_SECONDS
    cached = _token_cache.get(digest)
    if ttl > 0 and cached is not None and cached[0] > time.monotonic():
        return cached[1]
    account = (
        ServiceAccount.objects.filter(token_prefix=prefix, revoked_at__isnull=True)
        .prefetch_related("allowed_models")
        .first()
    )
    if account is None or not token_matches(account.token_hash, token):
        return None
    if ttl > 0:
        if len(_token_cache) > 1000:
            _token_cache.clear()
        _token_cache[digest] = (time.monotonic() + ttl, account)
    return account


# sha256(token) -> (valid until, account with its allowed models prefetched). Every API call
# authenticates; caching for a few seconds saves two queries per request. Saving an account
# (rotate, revoke) or its model list in this process clears it; other processes stop accepting
# a revoked token within SERVICE_TOKEN_CACHE_SECONDS.
_token_cache: dict[str, tuple[float, ServiceAccount]] = {}


@receiver(post_save, sender=ServiceAccount, dispatch_uid="service-token-cache-save")
@receiver(post_delete, sender=ServiceAccount, dispatch_uid="service-token-cache-delete")
@receiver(
    m2m_changed,
    sender=ServiceAccount.allowed_models.through,
    dispatch_uid="service-token-cache-m2m",
)
def _reset_token_cache(**kwargs) -> None:
    _token_cache.clear()


def allowed_model_ids(account: ServiceAccount) -> set[int] | None:
    """None means every model."""
    if account.all_models:
        return None
    return {m.pk for m in account.allowed_models.all()}
