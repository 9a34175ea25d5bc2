"""Typed reading of request parameters: one place decides what a whole number and a storable
text are, so every page, API and form refuses the same inputs the same way (a 400 naming the
parameter), never a 500 from ``int()`` or from the database.

``str.isdigit()`` is not a test for "parses as an int": it is true for superscripts and other
Unicode digits ("²") that ``int()`` then refuses. Only ASCII digits are read here, and every
number has a range, so a page of 10**20 never reaches the database as "bigint out of range".
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .exceptions import ServiceError

# The largest value a PostgreSQL ``integer`` column (and a Django AutoField id) holds.
DB_INT_MAX = 2**31 - 1
# A page past this is no page anyone reads; beyond it, lists answer 400.
PAGE_MAX = 10_000

_ASCII_INT = re.compile(r"[+-]?[0-9]{1,19}")
# Text no database stores: PostgreSQL refuses NUL in text and jsonb, and an unpaired
# surrogate cannot be encoded as UTF-8 at all.
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class ParamError(ServiceError):
    """A parameter that does not parse: 400, keyed by the parameter's name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message, status=400, errors={name: [message]}, code="invalid")
        self.name = name


def int_or_none(value: Any, *, minimum: int = 0, maximum: int = DB_INT_MAX) -> int | None:
    """``value`` as an int in [minimum, maximum], or None when it is not one (ASCII digits with
    an optional sign; an int or a numeric string; never a bool or a float)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value if value is not None else "").strip()
        if not _ASCII_INT.fullmatch(text):
            return None
        number = int(text)
    return number if minimum <= number <= maximum else None


def parse_int(
    value: Any,
    *,
    name: str,
    minimum: int = 0,
    maximum: int = DB_INT_MAX,
    default: int | None = None,
) -> int:
    """A whole number from a query or form value, or :class:`ParamError` naming ``name``.
    Absent or blank gives ``default`` when there is one."""
    if (value is None or str(value).strip() == "") and default is not None:
        return default
    number = int_or_none(value, minimum=minimum, maximum=maximum)
    if number is None:
        raise ParamError(
            name,
            _("Must be a whole number from %(min)s to %(max)s.") % {"min": minimum, "max": maximum},
        )
    return number


def unstorable(text: str) -> bool:
    """True when ``text`` holds a NUL character or an unpaired surrogate."""
    return bool(UNSTORABLE.search(text))


def safe_text(text: str) -> str:
    """``text`` with unstorable characters replaced, fit to echo back in an error message."""
    return UNSTORABLE.sub("\ufffd", text)


UNSTORABLE_MESSAGE = gettext_lazy("Text must not contain NUL characters or unpaired surrogates.")


def first_unstorable(pairs: Any) -> str | None:
    """The name of the first (key, value) pair whose key or value is unstorable text."""
    for key, value in pairs:
        if unstorable(str(key)):
            return safe_text(str(key))
        if isinstance(value, str) and unstorable(value):
            return str(key)
    return None
