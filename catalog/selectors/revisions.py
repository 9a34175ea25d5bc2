"""Revisions of an entry and what a revision changes."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from reviewapp.core.forms import normalize_line_endings
from reviewapp.core.textdiff import mark_changed_words

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


def _changed_words(old: str, new: str) -> tuple[str, str] | None:
    """One changed line as two escaped lines with the changed words marked; None when they
    share no word (the line was rewritten: shown as removed and added whole)."""
    left, right, shared = mark_changed_words(old, new)
    return (left, right) if shared else None


def _line_diff(a: str, b: str) -> list[str]:
    """Escaped HTML lines: unchanged lines plain, removed and added lines marked whole, and a
    line changed in place shown as its old and new versions with the changed words marked."""
    old, new = (a.split("\n") if a else []), (b.split("\n") if b else [])
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old, new, autojunk=False
    ).get_opcodes():
        if tag == "equal":
            out += [f'<span class="diff-same">  {escape(line)}</span>' for line in old[i1:i2]]
            continue
        removed, added = old[i1:i2], new[j1:j2]
        paired = min(len(removed), len(added)) if tag == "replace" else 0
        dels, inss = [], []
        for x, y in zip(removed[:paired], added[:paired], strict=True):
            words = _changed_words(x, y)
            if words is None:
                dels.append(f'<del class="diff-del">− {escape(x)}</del>')
                inss.append(f'<ins class="diff-ins">+ {escape(y)}</ins>')
            else:
                dels.append(f'<span class="diff-del">− {words[0]}</span>')
                inss.append(f'<span class="diff-ins">+ {words[1]}</span>')
        dels += [f'<del class="diff-del">− {escape(line)}</del>' for line in removed[paired:]]
        inss += [f'<ins class="diff-ins">+ {escape(line)}</ins>' for line in added[paired:]]
        out += dels + inss
    return out


def revision_diff(older: dict[str, Any], newer: dict[str, Any]) -> list[FieldDiff]:
    """Changed fields only, each as escaped diff HTML: lines removed (<del>) and added
    (<ins>), and within a changed line the words that changed. Line endings do not count
    as a change (a value saved from a browser before they were normalised has "\r\n")."""
    out = []
    for key in newer.keys() | older.keys():
        a = normalize_line_endings(_as_text(older.get(key)))
        b = normalize_line_endings(_as_text(newer.get(key)))
        if a == b:
            continue
        out.append(
            FieldDiff(key, str(quality.FIELD_LABELS.get(key, key.replace("_", " ").capitalize())),
                      mark_safe("".join(_line_diff(a, b))))  # noqa: S308 - every piece escaped
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
