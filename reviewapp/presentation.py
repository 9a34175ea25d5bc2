"""How a model's inputs are presented to the person reviewing them (docs/presentation.md).

Pure: no database, no settings. ``validate`` checks a declaration (``MLModel.presentation``)
and names each field it refuses; ``present`` turns one prediction's input into what the review
page draws under that declaration; ``sniff_image`` tells the whitelisted image types apart by
their first bytes; ``highlight`` splits a text into runs marked by the attributions that point
into it.

A declaration is a small JSON object; ``{}`` means the default, ``tabular``::

    {"kind": "tabular"}                      the inputs table ranked by attribution (today's)
    {"kind": "key_value"}                    every input by name, nested values as JSON
    {"kind": "image", "image_source": "bytes", "image_field": "image_b64"}
    {"kind": "image", "image_source": "url", "image_field": "image_url",
     "allowed_origins": ["https://pacs.example.org"]}
    {"kind": "text", "text_field": "body", "title_field": "subject"}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TABULAR = "tabular"
KEY_VALUE = "key_value"
IMAGE = "image"
TEXT = "text"
KINDS = (TABULAR, KEY_VALUE, IMAGE, TEXT)
SOURCE_BYTES = "bytes"
SOURCE_URL = "url"
SOURCES = (SOURCE_BYTES, SOURCE_URL)

# Which keys each kind takes (besides ``kind``); any other key is refused by name.
_KEYS = {
    TABULAR: set(),
    KEY_VALUE: set(),
    IMAGE: {"image_source", "image_field", "allowed_origins"},
    TEXT: {"text_field", "title_field"},
}
MAX_ORIGINS = 10
MAX_FIELD_NAME = 100
# Plain http only for a developer's own machine; every other origin must be https.
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]"}
_HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)

# The image types the bytes view serves, by signature. No SVG: it can carry script.
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}


def sniff_image(data: bytes) -> str | None:
    """The Content-Type of ``data`` if it is one of :data:`IMAGE_TYPES`, by its signature."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased; None otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _origin_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "each origin must be text such as https://images.example.org"
    origin = origin_of(value)
    if origin is None or value.rstrip("/").lower() != origin:
        return (
            f"{value!r} is not an origin: write scheme and host only, such as "
            "https://images.example.org (no path, query or wildcard)"
        )
    host = urlsplit(origin).hostname or ""
    if not _HOST.match(host) and ":" not in host:
        return f"{value!r} has no valid host name (no wildcards: list each origin)"
    if (
        origin.startswith("http://")
        and host not in _LOCAL_HOSTS
        and f"[{host}]" not in _LOCAL_HOSTS
    ):
        return f"{value!r} must use https (plain http only for localhost)"
    return None


def _field_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "name the input field (a top-level key of the prediction's input)"
    if len(value) > MAX_FIELD_NAME:
        return f"a field name has at most {MAX_FIELD_NAME} characters"
    if value != value.strip():
        return "a field name has no leading or trailing spaces"
    return None


def validate(declaration: Any) -> dict[str, list[str]]:
    """The problems of a declaration by field (empty when it is valid)."""
    if declaration in (None, {}):
        return {}
    if not isinstance(declaration, dict):
        return {"presentation": ['must be a JSON object such as {"kind": "tabular"}']}
    errors: dict[str, list[str]] = {}
    kind = declaration.get("kind")
    if kind not in KINDS:
        return {"kind": [f"must be one of {', '.join(KINDS)} (got {kind!r})"]}
    for key in sorted(set(declaration) - {"kind"} - _KEYS[kind]):
        errors.setdefault(key, []).append(f"is not used by the {kind} kind; remove it")
    if kind == IMAGE:
        source = declaration.get("image_source")
        if source not in SOURCES:
            errors.setdefault("image_source", []).append(
                f"must be bytes (stored with the prediction) or url (got {source!r})"
            )
        if problem := _field_problem(declaration.get("image_field")):
            errors.setdefault("image_field", []).append(problem)
        origins = declaration.get("allowed_origins")
        if source == SOURCE_URL:
            if not isinstance(origins, list) or not origins:
                errors.setdefault("allowed_origins", []).append(
                    "an image by URL needs at least one allowed origin"
                )
            elif len(origins) > MAX_ORIGINS:
                errors.setdefault("allowed_origins", []).append(f"at most {MAX_ORIGINS} origins")
            else:
                for origin in origins:
                    if problem := _origin_problem(origin):
                        errors.setdefault("allowed_origins", []).append(problem)
        elif origins not in (None, []):
            errors.setdefault("allowed_origins", []).append(
                "only an image by URL has allowed origins; stored bytes are served by this site"
            )
    if kind == TEXT:
        if problem := _field_problem(declaration.get("text_field")):
            errors.setdefault("text_field", []).append(problem)
        title = declaration.get("title_field")
        if title not in (None, ""):
            if problem := _field_problem(title):
                errors.setdefault("title_field", []).append(problem)
            elif title == declaration.get("text_field"):
                errors.setdefault("title_field", []).append("must differ from the text field")
    return errors


def normalise(declaration: dict[str, Any]) -> dict[str, Any]:
    """A valid declaration in its stored form: origins lower-cased without a trailing slash,
    empty optional keys dropped, ``{}`` for the default."""
    if not declaration or declaration.get("kind") == TABULAR:
        return {}
    out = {k: v for k, v in declaration.items() if v not in (None, "", [])}
    if "allowed_origins" in out:
        out["allowed_origins"] = sorted({origin_of(o) or o for o in out["allowed_origins"]})
    return out


# --- one prediction under a declaration -----------------------------------------------------
@dataclass
class Run:
    """A run of text; ``attribution`` set when an attribution points at it."""

    text: str
    attribution: float | None = None
    level: int = 0  # 1–3: how strong, against the strongest in the text


@dataclass
class Presented:
    kind: str = TABULAR
    # The input fields this presentation draws itself (left out of the inputs table).
    fields: set[str] = field(default_factory=set)
    # Why the declared presentation could not be drawn (the inputs table is shown instead).
    problem: str = ""
    image_source: str = ""
    image_url: str = ""
    image_field: str = ""
    # Origins the page's Content-Security-Policy must allow for images.
    origins: list[str] = field(default_factory=list)
    title: str = ""
    runs: list[Run] = field(default_factory=list)
    highlights: list[Run] = field(default_factory=list)
    text_field: str = ""
    pairs: list[tuple[str, str, bool]] = field(default_factory=list)


def decode_image(value: Any, *, max_bytes: int) -> tuple[bytes, str] | str:
    """The bytes and Content-Type of a stored image (base64, optionally as a ``data:`` URL),
    or a sentence saying why it cannot be shown."""
    if not isinstance(value, str) or not value:
        return "the stored image is missing or not text (base64 expected)"
    if value.startswith("data:"):
        value = value.partition(",")[2]
    if len(value) > (max_bytes * 4) // 3 + 4:
        return f"the stored image is larger than {max_bytes // 1024} KiB"
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "the stored image is not valid base64"
    content_type = sniff_image(data)
    if content_type is None:
        return "the stored image is not a PNG, JPEG, GIF or WebP picture"
    return data, content_type


_SPAN = re.compile(r"^(?P<field>.+)\[(?P<start>\d+):(?P<end>\d+)\]$")


def text_attributions(field_name: str, text: str, attributions: dict[str, Any]) -> list[Run]:
    """Spans of ``text`` that the attributions point at, as runs carrying the value.

    ``<field>[start:end]`` names characters start to end (end excluded, counted in Unicode
    code points, as Python slices); ``<field>:<token>`` names every whole-word occurrence of
    the token, case-insensitively. Spans outside the text are ignored."""
    spans: list[tuple[int, int, float]] = []
    for key, value in attributions.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not isinstance(key, str)
        ):
            continue
        match = _SPAN.match(key)
        if match and match["field"] == field_name:
            start, end = int(match["start"]), int(match["end"])
            if 0 <= start < end <= len(text):
                spans.append((start, end, float(value)))
        elif key.startswith(field_name + ":") and len(key) > len(field_name) + 1:
            token = key[len(field_name) + 1 :]
            pattern = re.compile(rf"(?<!\w){re.escape(token)}(?!\w)", re.IGNORECASE)
            spans.extend((m.start(), m.end(), float(value)) for m in pattern.finditer(text))
    return _runs(text, spans)


def _runs(text: str, spans: list[tuple[int, int, float]]) -> list[Run]:
    """The text cut at every span boundary; where spans overlap, the strongest one wins."""
    if not spans:
        return [Run(text)] if text else []
    strongest = max(abs(v) for _, _, v in spans) or 1.0
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    runs: list[Run] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        covering = [v for s, e, v in spans if s <= start and end <= e]
        value = max(covering, key=abs) if covering else None
        level = 0 if value is None else min(3, 1 + int(3 * abs(value) / strongest - 1e-9))
        if runs and runs[-1].attribution == value:
            runs[-1].text += text[start:end]
        else:
            runs.append(Run(text[start:end], value, level))
    return runs


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def present(
    declaration: dict[str, Any] | None, features: Any, signals: Any, *, max_image_bytes: int
) -> Presented:
    """What the review page draws for one prediction's input under the model's declaration.
    A declared field that is missing or unusable says so (``problem``) and leaves the field
    in the inputs table, so nothing the producer sent is hidden."""
    # Only valid declarations are stored (the service checks); anything else is the table.
    declaration = declaration if isinstance(declaration, dict) else {}
    kind = declaration.get("kind", TABULAR)
    features = features if isinstance(features, dict) else {"input": features}
    attributions = (signals or {}).get("attributions") if isinstance(signals, dict) else None
    attributions = attributions if isinstance(attributions, dict) else {}
    out = Presented(kind=kind if kind in KINDS else TABULAR)
    if out.kind == KEY_VALUE:
        # By name: PostgreSQL's jsonb does not keep the order the producer sent.
        for name, value in sorted(features.items()):
            text = _as_text(value)
            out.pairs.append((name, text, not isinstance(value, str) and "\n" in text))
    elif out.kind == IMAGE:
        name = declaration.get("image_field", "")
        out.image_field = name
        out.image_source = declaration.get("image_source", SOURCE_BYTES)
        value = features.get(name)
        if name not in features:
            out.problem = f"The input has no field {name!r}, where this model's images are."
        elif out.image_source == SOURCE_URL:
            allowed = list(declaration.get("allowed_origins") or [])
            origin = origin_of(value) if isinstance(value, str) else None
            out.fields.add(name)
            if origin is None:
                out.problem = f"The image address in {name!r} is not an http(s) URL."
            elif origin not in allowed:
                out.problem = (
                    f"The image is at {origin}, which this model's settings do not allow "
                    f"(allowed: {', '.join(allowed) or 'none'}), so it is not loaded."
                )
            else:
                out.image_url = value
                out.origins = allowed
        else:
            decoded = decode_image(value, max_bytes=max_image_bytes)
            out.fields.add(name)
            if isinstance(decoded, str):
                out.problem = decoded[0].upper() + decoded[1:] + f" (input field {name!r})."
        if out.problem and not out.image_url and out.image_source == SOURCE_URL:
            out.fields.discard(name)
    elif out.kind == TEXT:
        name = declaration.get("text_field", "")
        out.text_field = name
        value = features.get(name)
        if not isinstance(value, str):
            out.problem = f"The input has no text in field {name!r}."
        else:
            out.fields.add(name)
            out.runs = text_attributions(name, value, attributions)
            seen: set[tuple[str, float]] = set()
            for run in sorted(
                (r for r in out.runs if r.attribution is not None),
                key=lambda r: -abs(r.attribution or 0),
            ):
                key = (run.text.strip().lower(), run.attribution or 0.0)
                if key not in seen and len(out.highlights) < 5:
                    seen.add(key)
                    out.highlights.append(run)
        title = declaration.get("title_field")
        if title and isinstance(features.get(title), str):
            out.title = features[title]
            out.fields.add(title)
    return out
