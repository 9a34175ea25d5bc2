"""Word-level marking of a changed text, for the diffs people read (catalog revisions,
playbook versions)."""

from __future__ import annotations

import difflib
import re

from django.utils.html import escape

_WORDS = re.compile(r"(\s+)")


def mark_changed_words(old: str, new: str) -> tuple[str, str, bool]:
    """``old`` and ``new`` as escaped HTML, the words that differ wrapped in ``<del>`` (old)
    and ``<ins>`` (new) and the rest plain, whitespace kept as it was; and whether the two
    share any word (when they do not, the text was rewritten rather than edited)."""
    a, b = _WORDS.split(old), _WORDS.split(new)
    left, right, shared = [], [], False
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        before, after = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if tag == "equal":
            shared = shared or bool("".join(a[i1:i2]).strip())
            left.append(before)
            right.append(after)
            continue
        if before:
            left.append(f"<del>{before}</del>")
        if after:
            right.append(f"<ins>{after}</ins>")
    return "".join(left), "".join(right), shared
