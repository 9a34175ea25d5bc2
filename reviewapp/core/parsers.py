"""The one JSON body reader of the project: ingestion's hand-written validator and every DRF
endpoint (``JSONBodyParser``, the default parser in ``REST_FRAMEWORK``) read bodies through
:func:`parse_json` and check them with :func:`body_problems`, so a body one endpoint refuses is
refused by all: malformed or non-UTF-8 JSON, NaN / Infinity, nesting deeper than
``MAX_DEPTH``, NUL characters or unpaired surrogates in any string or key.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.utils.translation import gettext as _
from rest_framework.parsers import BaseParser

from .exceptions import ServiceError
from .params import UNSTORABLE, UNSTORABLE_MESSAGE

# Deeper JSON is refused: no payload of this project nests this far, and deep nesting is how
# a small body exhausts the parser's and the database driver's stacks.
MAX_DEPTH = 32
NON_FINITE = "Must be a finite number (NaN and Infinity are not allowed)."


class NonFinite:
    """Stands in for NaN / Infinity while parsing, so validation can name the field."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class BodyError(Exception):
    pass


def parse_json(body: bytes) -> tuple[Any, bool]:
    """Parse a request body; returns (value, saw_non_finite). Raises :class:`BodyError` for
    anything that is not JSON (invalid UTF-8 included) or too deep for the parser's stack."""
    seen = False

    def constant(text: str) -> NonFinite:
        nonlocal seen
        seen = True
        return NonFinite(text)

    try:
        return json.loads(body, parse_constant=constant), seen
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(f"Malformed JSON: {exc}") from None
    except RecursionError:
        raise BodyError(f"Malformed JSON: nested more than {MAX_DEPTH} levels deep.") from None


def is_non_finite(value: Any) -> bool:
    return isinstance(value, NonFinite) or (isinstance(value, float) and not math.isfinite(value))


def body_problems(raw: Any, *, max_depth: int = MAX_DEPTH) -> list[tuple[str, str]]:
    """(path, problem) for every value no database can store: NaN / Infinity (also a number
    too large for a float, which json reads as infinity), NUL or unpaired surrogates in text
    (keys too), and nesting deeper than ``max_depth``. Iterative, so depth cannot blow the
    stack. Paths are dotted (``output.label``, ``links[2]``); sorted."""
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if is_non_finite(value):
            problems.append((path, NON_FINITE))
        elif isinstance(value, str):
            if UNSTORABLE.search(value):
                problems.append((path, str(UNSTORABLE_MESSAGE)))
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                problems.append((path, f"Nested more than {max_depth} levels deep."))
                continue
            if isinstance(value, dict):
                for key, item in value.items():
                    key = str(key)
                    child = f"{path}.{key}" if path else key
                    if UNSTORABLE.search(key):
                        problems.append((UNSTORABLE.sub("\ufffd", child), str(UNSTORABLE_MESSAGE)))
                    stack.append((item, child, depth + 1))
            else:
                for index, item in enumerate(value):
                    stack.append((item, f"{path}[{index}]", depth + 1))
    problems.sort()
    return problems


def load_json_body(body: bytes) -> Any:
    """A JSON body every endpoint may trust, or a 400 :class:`ServiceError` naming each bad
    path (``body`` for the body as a whole)."""
    if not body.strip():
        raise ServiceError(
            _("Empty body: send a JSON object."),
            errors={"body": [_("Empty body: send a JSON object.")]},
        )
    try:
        value, _seen = parse_json(body)
    except BodyError as exc:
        raise ServiceError(str(exc), errors={"body": [str(exc)]}) from None
    problems = body_problems(value)
    if problems:
        errors: dict[str, list[str]] = {}
        for path, message in problems:
            errors.setdefault(path or "body", []).append(message)
        raise ServiceError(_("The body holds values that cannot be stored."), errors=errors)
    return value


class JSONBodyParser(BaseParser):
    """DRF's parser for ``application/json``, through :func:`load_json_body`."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        body = stream.read() if stream is not None else b""
        return load_json_body(body)
