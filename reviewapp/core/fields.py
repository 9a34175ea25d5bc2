"""A model field whose value is stored encrypted (Fernet) with keys from the environment.

``settings.FIELD_ENCRYPTION_KEYS`` lists Fernet keys, newest first: the first encrypts, every
key decrypts (``MultiFernet``), so a key is rotated by putting a new one in front, running
``manage.py rotate_field_encryption`` (every stored value re-encrypted with the newest key),
then dropping the old one. The database holds only tokens; Python code sees plain text.
Fernet tokens are random, so such a field cannot be searched or compared in SQL.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key (urlsafe base64 of "
            "32 bytes)."
        ) from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(text: str) -> str:
    return fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS "
            "(a key was dropped before `manage.py rotate_field_encryption` ran?)."
        ) from None


def rotate(token: str) -> str:
    """The same value, encrypted again with the newest key."""
    return fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; the empty string stays empty (means "not set")."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
