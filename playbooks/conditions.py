"""The condition language of playbook steps: a small text expression, no database.

``severity >= S2 and model.criticality == critical`` reads facts of the incident a step runs
in; the step runs only when its condition holds. Grammar (docs/playbooks.md):

    condition := clause (("and" | "or") clause)*        "and" binds tighter than "or"
    clause    := FIELD OP VALUE | FIELD ("in" | "not in") "(" VALUE ("," VALUE)* ")"
    OP        := == | != | >= | > | <= | <              (order only on ordered fields)

Ordered fields compare by gravity: ``severity >= S2`` holds for S2 and S1 (S1 is the worst),
``model.criticality >= high`` for high and critical. A fact the incident does not know yet
makes its clause unknown; ``and`` / ``or`` follow three-valued logic, so a step whose
condition is unknown is shown as "not decided yet", never silently skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

# field -> its values from least to most grave (ordered) or in any order (not ordered).
ORDERED: dict[str, tuple[str, ...]] = {
    "severity": ("S4", "S3", "S2", "S1"),
    "model.criticality": ("low", "medium", "high", "critical"),
    "model.regulatory_class": ("none", "internal", "regulated", "high_risk"),
}
UNORDERED: dict[str, tuple[str, ...] | None] = {
    "model.mode": ("normal", "contained", "halted"),
    "alert.kind": ("spike", "shift"),
    "alert.monitor": None,  # known monitor names, given by the caller
    "failure_mode": None,  # catalog slugs, given by the caller
}
FIELDS = (*ORDERED, *UNORDERED)
FIELD_WORDS = {
    "severity": "severity",
    "model.criticality": "the model's criticality",
    "model.regulatory_class": "the model's regulatory class",
    "model.mode": "the model's mode",
    "alert.kind": "the alert's kind",
    "alert.monitor": "the alert's monitor",
    "failure_mode": "the failure mode",
}
OPS = ("==", "!=", ">=", "<=", ">", "<", "in", "not in")
ORDER_OPS = (">=", "<=", ">", "<")
MAX_LENGTH = 300
MAX_CLAUSES = 8

_CLAUSE = re.compile(
    r"^\s*(?P<field>[a-z_.]+)\s*"
    r"(?:(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>[A-Za-z0-9_-]+)"
    r"|(?P<setop>not\s+in|in)\s*\(\s*(?P<values>[A-Za-z0-9_,\s-]*)\))\s*$"
)


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    values: tuple[str, ...]


# Disjunctive form: any group holds when all its clauses hold.
Condition = tuple[tuple[Clause, ...], ...]


class ConditionError(ValueError):
    pass


def _split(text: str, word: str) -> list[str]:
    return re.split(rf"\s+{word}\s+", text.strip())


def parse(text: str, *, known: Mapping[str, Iterable[str]] | None = None) -> Condition:
    """The condition ``text`` means, or ConditionError saying what is wrong. ``known`` gives
    the allowed values of the open fields (``alert.monitor``, ``failure_mode``)."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError(_("Empty condition."))
    if len(text) > MAX_LENGTH:
        raise ConditionError(_("At most %d characters.") % MAX_LENGTH)
    known = known or {}
    groups: list[tuple[Clause, ...]] = []
    count = 0
    for group_text in _split(text, "or"):
        clauses = []
        for clause_text in _split(group_text, "and"):
            count += 1
            clauses.append(_parse_clause(clause_text, known))
        groups.append(tuple(clauses))
    if count > MAX_CLAUSES:
        raise ConditionError(_("At most %d clauses.") % MAX_CLAUSES)
    return tuple(groups)


def _parse_clause(text: str, known: Mapping[str, Iterable[str]]) -> Clause:
    match = _CLAUSE.match(text)
    if not match:
        raise ConditionError(
            _("Cannot read “%(clause)s”: write FIELD OP VALUE, e.g. “severity >= S2”.")
            % {"clause": text.strip()}
        )
    field = match["field"]
    if field not in FIELDS:
        raise ConditionError(
            _("Unknown field “%(field)s”: use one of %(fields)s.")
            % {"field": field, "fields": ", ".join(FIELDS)}
        )
    if match["op"]:
        op, values = match["op"], (match["value"],)
    else:
        op = "not in" if match["setop"].startswith("not") else "in"
        values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
        if not values:
            raise ConditionError(_("“%s” needs at least one value in the brackets.") % field)
    if op in ORDER_OPS and field not in ORDERED:
        raise ConditionError(
            _("“%(field)s” has no order: use ==, != or in, not %(op)s.")
            % {"field": field, "op": op}
        )
    allowed = ORDERED.get(field) or UNORDERED.get(field) or tuple(known.get(field, ()))
    if ORDERED.get(field) or UNORDERED.get(field) or field in known:
        for value in values:
            if value not in allowed:
                raise ConditionError(
                    _("“%(value)s” is not a value of %(field)s (%(allowed)s).")
                    % {
                        "value": value,
                        "field": field,
                        "allowed": ", ".join(allowed) or _("none known"),
                    }
                )
    return Clause(field, op, values)


def _clause_holds(clause: Clause, facts: Mapping[str, str | None]) -> bool | None:
    value = facts.get(clause.field)
    if value is None or value == "":
        return None
    if clause.op == "==":
        return value == clause.values[0]
    if clause.op == "!=":
        return value != clause.values[0]
    if clause.op == "in":
        return value in clause.values
    if clause.op == "not in":
        return value not in clause.values
    scale = ORDERED[clause.field]
    if value not in scale:
        return None
    have, want = scale.index(value), scale.index(clause.values[0])
    compare: dict[str, Callable[[int, int], bool]] = {
        ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b,
    }
    return compare[clause.op](have, want)


def _and(values: Iterable[bool | None]) -> bool | None:
    values = list(values)
    if False in values:
        return False
    return None if None in values else True


def _or(values: Iterable[bool | None]) -> bool | None:
    values = list(values)
    if True in values:
        return True
    return None if None in values else False


def evaluate(condition: Condition | str, facts: Mapping[str, str | None]) -> bool | None:
    """True (the step runs), False (it is skipped) or None (a fact is not known yet).
    An empty condition always holds."""
    if isinstance(condition, str):
        if not condition.strip():
            return True
        condition = parse(condition)
    return _or(_and(_clause_holds(c, facts) for c in group) for group in condition)


def _clause_words(clause: Clause) -> str:
    subject = FIELD_WORDS[clause.field]
    values = clause.values
    if clause.op == "==":
        return f"{subject} is {values[0]}"
    if clause.op == "!=":
        return f"{subject} is not {values[0]}"
    if clause.op == "in":
        return f"{subject} is one of {', '.join(values)}"
    if clause.op == "not in":
        return f"{subject} is none of {', '.join(values)}"
    if clause.field in ORDERED:
        graver = "more severe" if clause.field == "severity" else "higher"
        milder = "less severe" if clause.field == "severity" else "lower"
        return {
            ">=": f"{subject} is {values[0]} or {graver}",
            ">": f"{subject} is {graver} than {values[0]}",
            "<=": f"{subject} is {values[0]} or {milder}",
            "<": f"{subject} is {milder} than {values[0]}",
        }[clause.op]
    return f"{subject} {clause.op} {values[0]}"  # pragma: no cover - parse refuses it


def in_words(text: str) -> str:
    """``severity >= S2 and model.mode == contained`` → "Only when severity is S2 or more
    severe and the model's mode is contained"; "" for no condition."""
    if not text or not text.strip():
        return ""
    try:
        condition = parse(text)
    except ConditionError:
        return f"Only when {text}"
    groups = [" and ".join(_clause_words(c) for c in group) for group in condition]
    return "Only when " + " — or when ".join(groups)
