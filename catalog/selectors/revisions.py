"""Revisions of an entry and what a revision changes."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .. import quality
from ..models import FailureMode, PendingRevision, Revision


def revisions_for(*, kind: str, object_id: int) -> QuerySet[Revision]:
    return Revision.objects.filter(kind=kind, object_id=object_id).select_related("author")


def _as_text(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {_as_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(
            " · ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else str(item)
            for item in value
        )
    return "" if value is None else str(value)


@dataclass
class FieldDiff:
    field: str
    label: str
    html: SafeString


def revision_diff(older: dict[str, Any], newer: dict[str, Any]) -> list[FieldDiff]:
    """Changed fields only, each as escaped line diff HTML (<del>/<ins> per line)."""
    out = []
    for key in newer.keys() | older.keys():
        a, b = _as_text(older.get(key)), _as_text(newer.get(key))
        if a == b:
            continue
        lines = []
        for line in difflib.ndiff(a.splitlines(), b.splitlines()):
            tag, text = line[:2], escape(line[2:])
            if tag == "- ":
                lines.append(f'<del class="diff-del">− {text}</del>')
            elif tag == "+ ":
                lines.append(f'<ins class="diff-ins">+ {text}</ins>')
            elif tag == "  ":
                lines.append(f'<span class="diff-same">  {text}</span>')
        out.append(
            FieldDiff(key, str(quality.FIELD_LABELS.get(key, key.replace("_", " ").capitalize())),
                      mark_safe("\n".join(lines)))  # noqa: S308 - every piece escaped above
        )  # fmt: skip
    order = list(newer.keys())
    return sorted(out, key=lambda d: order.index(d.field) if d.field in order else 999)


# --- Pending revisions ----------------------------------------------------------------------
def pending_revision_for(fm: FailureMode) -> PendingRevision | None:
    """The entry's revision waiting for review, if any (at most one: a constraint)."""
    return (
        PendingRevision.objects.filter(failure_mode=fm, status=PendingRevision.Status.PENDING)
        .select_related("author")
        .first()
    )


def pending_revision_diff(pending: PendingRevision) -> list[FieldDiff]:
    """What publishing it would change, field by field, against the values it was based on."""
    return revision_diff(dict(pending.base), dict(pending.changes))
