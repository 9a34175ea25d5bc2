"""Feature profiles: learn what a model's inputs usually look like, and check one input
against that. Pure (no database, no settings): the service feeds it rows and stores the result.

**Profile** (JSON, stored in ``FeatureProfile.profile``), learned from dict inputs only, per
field — the top-level keys and one level of nesting (``meta.ip``); deeper objects and lists
are profiled as a whole (their type, presence and nulls), not inside::

    {"version": 1, "rows": 5000, "window_days": 7, "truncated": false,
     "fields": {"amount": {"present": 1.0, "non_null": 1.0, "types": {"number": 1.0},
                           "num": {"min": 0.4, "p1": 3.3, "p50": 55.1, "p99": 890.0,
                                   "max": 3640.0}},
                "currency": {"present": 1.0, "non_null": 1.0, "types": {"text": 1.0},
                             "cats": [["EUR", 1.0]], "closed": true},
                "meta.ip": {"path": ["meta", "ip"], ...}}}

``present`` is the share of rows with the field, ``non_null`` the share of those where it is
not null, ``types`` the shares of the non-null values' types. ``num`` holds quantiles of the
numbers; ``cats`` the most frequent text/boolean values (at most ``max_categories``) and
``closed`` says they are *all* the values seen (the field has few values), which is when an
unseen value is a finding. At most ``max_fields`` fields are kept (the most often present);
``truncated`` says some were dropped, and then no field is reported as new.

**Checker** (:func:`compile_checker`): a closure over the profile read once; ``check(input)``
returns the findings (see ``reviewapp/governance/anomalies.py`` for the kinds and their
sentences), in field order, at most :data:`MAX_FINDINGS`. Deterministic: the same profile
and input always give the same list, which routing stores in the facts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reviewapp.governance.anomalies import (
    BOOL,
    LIST,
    MISSING,
    NEW_FIELD,
    NULL,
    NULL_TYPE,
    NUMBER,
    OBJECT,
    OUT_OF_RANGE,
    TEXT,
    TYPE_CHANGED,
    UNSEEN_CATEGORY,
    describe_finding,
)

__all__ = [
    "Checker",
    "compile_checker",
    "describe_finding",
    "learn_profile",
    "type_of",
]

VERSION = 1
MIN_ROWS = 200
MAX_FIELDS = 100
MAX_CATEGORIES = 20
# A field present (or set) in at least this share of recent rows is "usually present".
USUAL = 0.99
# A type seen in less than this share of a field's non-null values is not one of its types.
TYPE_MIN_SHARE = 0.005
# "Far outside": beyond p99 + K × (p99 − p1) (or below p1 − K × …), and beyond anything seen.
RANGE_K = 3.0
# Numbers needed before a field gets quantiles, and text/boolean values before its
# categories count as closed.
MIN_VALUES = 50
# Distinct values counted per field (an id field has one per row; its counter stops growing).
MAX_DISTINCT_TRACKED = 1000
MAX_FINDINGS = 12
MAX_VALUE_CHARS = 80

Check = Callable[[Any], list[dict[str, Any]]]
# JSON value types by Python type (the checker's hot path: one lookup instead of a chain).
_KINDS: dict[type, str] = {
    str: TEXT,
    bool: BOOL,
    int: NUMBER,
    float: NUMBER,
    dict: OBJECT,
    list: LIST,
}
_ABSENT = object()


def type_of(value: Any) -> str:
    t = type(value)
    if t is str:
        return TEXT
    if t is bool:
        return BOOL
    if t is int or t is float:
        return NUMBER
    if t is dict:
        return OBJECT
    if t is list:
        return LIST
    if value is None:
        return NULL_TYPE
    return type(value).__name__


def _sig(x: float) -> float | int:
    """Six significant digits (the profile stays small and its JSON stable)."""
    r = float(f"{x:.6g}")
    return int(r) if r.is_integer() and abs(r) < 2**53 else r


def _quantile(xs: list[float], q: float) -> float:
    """Linear interpolation between the two nearest ranks of sorted ``xs``."""
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class _FieldStats:
    __slots__ = ("present", "nulls", "types", "numbers", "cats")

    def __init__(self) -> None:
        self.present = 0
        self.nulls = 0
        self.types: Counter[str] = Counter()
        self.numbers: list[float] = []
        self.cats: Counter[Any] = Counter()

    def observe(self, value: Any) -> None:
        self.present += 1
        if value is None:
            self.nulls += 1
            return
        t = type_of(value)
        self.types[t] += 1
        if t == NUMBER:
            if math.isfinite(value):
                self.numbers.append(float(value))
        elif t in (TEXT, BOOL):
            key = value[:MAX_VALUE_CHARS] if t == TEXT else value
            if key in self.cats or len(self.cats) < MAX_DISTINCT_TRACKED:
                self.cats[key] += 1

    def entry(
        self, rows: int, path: tuple[str, ...], max_categories: int, min_values: int
    ) -> dict[str, Any]:
        non_null = self.present - self.nulls
        out: dict[str, Any] = {
            "present": round(self.present / rows, 4),
            "non_null": round(non_null / self.present, 4),
            "types": {t: round(n / non_null, 4) for t, n in sorted(self.types.items()) if non_null},
        }
        if len(path) > 1:
            out["path"] = list(path)
        if len(self.numbers) >= min_values:
            xs = sorted(self.numbers)
            out["num"] = {
                "min": _sig(xs[0]),
                "p1": _sig(_quantile(xs, 0.01)),
                "p50": _sig(_quantile(xs, 0.5)),
                "p99": _sig(_quantile(xs, 0.99)),
                "max": _sig(xs[-1]),
            }
        if self.cats:
            counted = sum(self.cats.values())
            # Most frequent first; ties by value (booleans before text), so the JSON is stable.
            top = sorted(self.cats.items(), key=lambda kv: (-kv[1], type(kv[0]) is str, kv[0]))
            out["cats"] = [[v, round(n / counted, 4)] for v, n in top[:max_categories]]
            out["closed"] = len(self.cats) <= max_categories and counted >= min_values
        return out


def learn_profile(
    inputs: Iterable[Any],
    *,
    window_days: int,
    min_rows: int = MIN_ROWS,
    max_fields: int = MAX_FIELDS,
    max_categories: int = MAX_CATEGORIES,
) -> dict[str, Any] | None:
    """The profile of ``inputs`` (a model's recent accepted inputs), or None when fewer than
    ``min_rows`` of them are JSON objects (too little to say what is usual: no check)."""
    stats: dict[tuple[str, ...], _FieldStats] = {}
    rows = 0
    for input_ in inputs:
        if not isinstance(input_, dict):
            continue
        rows += 1
        for key, value in input_.items():
            path = (str(key),)
            (stats.get(path) or stats.setdefault(path, _FieldStats())).observe(value)
            if type(value) is dict:
                for sub, subvalue in value.items():
                    subpath = (path[0], str(sub))
                    (stats.get(subpath) or stats.setdefault(subpath, _FieldStats())).observe(
                        subvalue
                    )
    if rows < min_rows:
        return None
    # Quantiles and a closed set of categories need this many values of the field (fewer
    # when the caller accepts fewer rows, as seed_demo does).
    min_values = min(MIN_VALUES, min_rows)
    kept = sorted(stats, key=lambda p: (-stats[p].present, p))[:max_fields]
    return {
        "version": VERSION,
        "rows": rows,
        "window_days": window_days,
        "truncated": len(stats) > len(kept),
        "fields": {
            ".".join(path): stats[path].entry(rows, path, max_categories, min_values)
            for path in sorted(kept)
        },
    }


# --- the checker ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    key: str
    parent: str | None
    must_present: bool
    presence: float
    must_set: bool
    non_null: float
    types: frozenset[str]
    usual: str
    lo: float | None
    hi: float | None
    p1: float | None
    p99: float | None
    cats: frozenset[Any] | None


def _spec(name: str, entry: Mapping[str, Any]) -> _Spec:
    path = entry.get("path") or [name]
    types = {t: s for t, s in (entry.get("types") or {}).items()}
    usual = max(sorted(types), key=lambda t: types[t]) if types else NULL_TYPE
    lo = hi = p1 = p99 = None
    num = entry.get("num")
    if num and NUMBER in types:
        p1, p99 = float(num["p1"]), float(num["p99"])
        spread = p99 - p1 or max(abs(p99), 1.0)
        hi = max(p99 + RANGE_K * spread, float(num["max"]))
        lo = min(p1 - RANGE_K * spread, float(num["min"]))
    cats = None
    if entry.get("closed") and entry.get("cats"):
        cats = frozenset(v for v, _share in entry["cats"])
    return _Spec(
        name=name,
        key=str(path[-1]),
        parent=str(path[0]) if len(path) > 1 else None,
        must_present=float(entry.get("present", 0)) >= USUAL,
        presence=float(entry.get("present", 0)),
        must_set=float(entry.get("non_null", 0)) >= USUAL,
        non_null=float(entry.get("non_null", 0)),
        types=frozenset(t for t, s in types.items() if s >= TYPE_MIN_SHARE),
        usual=usual,
        lo=lo,
        hi=hi,
        p1=p1,
        p99=p99,
        cats=cats,
    )


class Checker:
    """A profile compiled for checking many inputs: call it with one input."""

    __slots__ = ("specs", "days", "known_top", "known_nested", "report_new")

    def __init__(self, profile: Mapping[str, Any]) -> None:
        fields = profile.get("fields") or {}
        self.days = int(profile.get("window_days") or 7)
        self.specs = tuple(_spec(name, fields[name]) for name in sorted(fields))
        self.known_top = frozenset(s.key for s in self.specs if s.parent is None)
        # Parents whose keys were profiled: their unknown keys are new fields.
        nested: dict[str, set[str]] = {}
        for s in self.specs:
            if s.parent is not None:
                nested.setdefault(s.parent, set()).add(s.key)
        self.known_nested = {p: frozenset(keys) for p, keys in nested.items()}
        self.report_new = not profile.get("truncated")

    def __call__(self, input_: Any) -> list[dict[str, Any]]:
        days = self.days
        if type(input_) is not dict:
            return [
                {"field": "input", "kind": TYPE_CHANGED, "got": type_of(input_), "usual": OBJECT,
                 "window_days": days}
            ]  # fmt: skip
        found: list[dict[str, Any]] = []
        add = found.append
        kinds = _KINDS
        for s in self.specs:
            if s.parent is None:
                value = input_.get(s.key, _ABSENT)
            else:
                parent = input_.get(s.parent)
                if type(parent) is not dict:
                    continue  # the parent's own finding says it
                value = parent.get(s.key, _ABSENT)
            if value is _ABSENT:
                if s.must_present:
                    add({"field": s.name, "kind": MISSING, "presence": s.presence,
                         "window_days": days})  # fmt: skip
                continue
            if value is None:
                if s.must_set:
                    add({"field": s.name, "kind": NULL, "non_null": s.non_null,
                         "window_days": days})  # fmt: skip
                continue
            kind = kinds.get(type(value)) or type_of(value)
            if kind not in s.types:
                add({"field": s.name, "kind": TYPE_CHANGED, "got": kind, "usual": s.usual,
                     "window_days": days})  # fmt: skip
            elif kind == NUMBER:
                if s.hi is not None and (value > s.hi or value < s.lo):
                    high = value > s.hi
                    ratio = round(value / s.p99, 1) if high and s.p99 and s.p99 > 0 else None
                    add({"field": s.name, "kind": OUT_OF_RANGE, "value": value,
                         "side": "high" if high else "low", "p1": s.p1, "p99": s.p99,
                         "ratio": ratio, "window_days": days})  # fmt: skip
            elif s.cats is not None and kind in (TEXT, BOOL):
                key = value[:MAX_VALUE_CHARS] if kind == TEXT else value
                if key not in s.cats:
                    add({"field": s.name, "kind": UNSEEN_CATEGORY, "value": key,
                         "window_days": days})  # fmt: skip
        if self.report_new:
            known_top = self.known_top
            for key in input_:
                if key not in known_top:
                    if len(found) >= MAX_FINDINGS:
                        break
                    add({"field": str(key)[:MAX_VALUE_CHARS], "kind": NEW_FIELD,
                         "window_days": days})  # fmt: skip
            for parent, keys in self.known_nested.items():
                value = input_.get(parent)
                if type(value) is dict:
                    for key in value:
                        if key not in keys:
                            add({"field": f"{parent}.{key}"[:MAX_VALUE_CHARS], "kind": NEW_FIELD,
                                 "window_days": days})  # fmt: skip
        if len(found) > MAX_FINDINGS:
            del found[MAX_FINDINGS:]
        return found


def compile_checker(profile: Mapping[str, Any] | None) -> Checker | None:
    """The checker of a stored profile; None for no profile or one with no fields."""
    if not profile or not profile.get("fields"):
        return None
    return Checker(profile)
