"""Data-quality findings in words: what the review page, the reasons line and the fail-safe
pages print for the findings routing stored (``routing_facts["anomalies"]``).

Pure and importable by every app: the queue reads findings from its own rows and may not
import the fail-safe app that produces them (reviewapp/failsafe/profiles.py), so the shared
vocabulary (the kinds, the type names) and the sentences live here, beside the rules that
route on them.

A finding is a JSON object with at least ``field`` and ``kind``, plus the numbers its
sentence needs (see each kind below). An unknown kind, or one missing a number, still reads
as a sentence: a stored record is never an error on a page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# The kinds of finding (reviewapp/failsafe/profiles.py produces them).
MISSING = "missing"  # absent, though present in >= 99 % of recent rows: "presence"
NULL = "null"  # null, though set in >= 99 % of recent rows: "non_null"
OUT_OF_RANGE = "out_of_range"  # "value", "side" (high/low), "p1", "p99", "ratio" (to p99)
UNSEEN_CATEGORY = "unseen_category"  # "value", never seen where the field has few values
TYPE_CHANGED = "type_changed"  # "got", "usual": type names below
NEW_FIELD = "new_field"  # a field the recent traffic never had
KINDS = (MISSING, NULL, OUT_OF_RANGE, UNSEEN_CATEGORY, TYPE_CHANGED, NEW_FIELD)

# JSON value types as the profile names them.
NUMBER, TEXT, BOOL, OBJECT, LIST, NULL_TYPE = "number", "text", "bool", "object", "list", "null"


def _type_words() -> dict[str, str]:
    return {
        NUMBER: _("a number"),
        TEXT: _("text"),
        BOOL: _("true/false"),
        OBJECT: _("an object"),
        LIST: _("a list"),
        NULL_TYPE: _("null"),
    }


def _number(value: Any) -> str:
    """48210 -> "48,210"; 1205.333 -> "1,205.33"; 0.01234 -> "0.0123" (in the user's locale)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return number_format(int(value), force_grouping=True)
    if abs(value) >= 1:
        return number_format(round(value, 2), decimal_pos=None, force_grouping=True)
    return number_format(float(f"{value:.3g}"), force_grouping=True)


def _share(share: Any) -> str:
    """A share (0-1) as a percentage: 0.998 -> "99.8", 0.99996 -> "99.99", 1 -> "100"."""
    if not isinstance(share, int | float) or isinstance(share, bool):
        return "?"
    pct = 100 * float(share)
    if pct >= 100:
        return "100"
    text = f"{pct:.1f}"
    if text == "100.0":
        text = f"{math.floor(pct * 100) / 100:.2f}"
    return number_format(float(text), decimal_pos=len(text.split(".")[1]))


def _ratio(ratio: float) -> str:
    return number_format(round(ratio)) if ratio >= 10 else number_format(round(ratio, 1))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    return _number(value)


def describe_finding(finding: Mapping[str, Any]) -> str:
    """One finding as a sentence a reviewer reads in seconds, e.g. "amount 48,210 is 40× the
    99th percentile of the last 7 days"."""
    field = str(finding.get("field", "?"))
    kind = finding.get("kind")
    days = finding.get("window_days") or 7
    if kind == MISSING:
        return _("%(field)s missing (present in %(share)s %% of recent predictions)") % {
            "field": field,
            "share": _share(finding.get("presence")),
        }
    if kind == NULL:
        return _("%(field)s is empty (set in %(share)s %% of recent predictions)") % {
            "field": field,
            "share": _share(finding.get("non_null")),
        }
    if kind == OUT_OF_RANGE:
        value = _number(finding.get("value"))
        if finding.get("side") == "low":
            return _(
                "%(field)s %(value)s is far below the 1st percentile (%(p1)s) of the last "
                "%(days)s days"
            ) % {"field": field, "value": value, "p1": _number(finding.get("p1")), "days": days}
        ratio = finding.get("ratio")
        if isinstance(ratio, int | float) and not isinstance(ratio, bool) and ratio >= 2:
            return _("%(field)s %(value)s is %(ratio)s× the 99th percentile of the last %(days)s days") % {
                "field": field,
                "value": value,
                "ratio": _ratio(float(ratio)),
                "days": days,
            }  # fmt: skip
        return _(
            "%(field)s %(value)s is far above the 99th percentile (%(p99)s) of the last "
            "%(days)s days"
        ) % {"field": field, "value": value, "p99": _number(finding.get("p99")), "days": days}
    if kind == UNSEEN_CATEGORY:
        return _("%(field)s %(value)s never seen in the last %(days)s days") % {
            "field": field,
            "value": _value(finding.get("value")),
            "days": days,
        }
    if kind == TYPE_CHANGED:
        words = _type_words()
        got, usual = finding.get("got"), finding.get("usual")
        return _("%(field)s is %(got)s, usually %(usual)s") % {
            "field": field,
            "got": words.get(got, str(got)),
            "usual": words.get(usual, str(usual)),
        }
    if kind == NEW_FIELD:
        return _("%(field)s is new (never sent in the last %(days)s days)") % {
            "field": field,
            "days": days,
        }
    return _("%(field)s: %(kind)s") % {"field": field, "kind": kind}


def describe_findings(findings: Iterable[Mapping[str, Any]] | None) -> list[str]:
    return [describe_finding(f) for f in findings or () if isinstance(f, Mapping)]


def describe_anomaly_reason(findings: Iterable[Mapping[str, Any]] | None) -> str:
    """The ``data_anomaly`` reason in one line: the first finding and how many more."""
    sentences = describe_findings(findings)
    if not sentences:
        return _("Input unlike the model's recent traffic")
    if len(sentences) == 1:
        return _("Input unlike recent traffic: %(first)s") % {"first": sentences[0]}
    return ngettext(
        "Input unlike recent traffic: %(first)s (and %(n)d more finding)",
        "Input unlike recent traffic: %(first)s (and %(n)d more findings)",
        len(sentences) - 1,
    ) % {"first": sentences[0], "n": len(sentences) - 1}


def flagged_fields(findings: Iterable[Mapping[str, Any]] | None) -> set[str]:
    """The top-level input fields the findings name (``meta.ip`` -> ``meta``)."""
    return {
        str(f.get("field", "")).split(".", 1)[0]
        for f in findings or ()
        if isinstance(f, Mapping) and f.get("field")
    }
