"""The condition language of routing segments: safe JSON, no expressions, no database.

A condition is ``{"field": "input.amount", "op": ">=", "value": 10000}``: one value of the
envelope's input or output, read by a dotted path of object keys, compared with a constant.
Exact semantics in docs/policies.md ("Rules v2: segments").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

CONDITION_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists")
ORDER_OPS = {"<", "<=", ">", ">="}
# A condition reads one value of the envelope's input or output by dotted path of object keys.
FIELD_PATH = re.compile(r"^(input|output)(\.[A-Za-z0-9_-]{1,100}){1,8}$")
MAX_IN_VALUES = 1000


def is_number(value: Any) -> bool:
    """A finite number; an integer too large for a float (10**400) is not one."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or is_number(value)


def check_condition(condition: Any, at: str, add) -> None:
    if not isinstance(condition, dict):
        add(at, 'Must be an object: {"field": …, "op": …, "value": …}.')
        return
    for key in sorted(set(condition) - {"field", "op", "value"}):
        add(f"{at}.{key}", "Unknown key.")
    path = condition.get("field")
    if not isinstance(path, str) or not FIELD_PATH.match(path):
        add(f"{at}.field", 'Required: a dotted path into input or output, e.g. "input.amount".')
    op = condition.get("op")
    if op not in CONDITION_OPS:
        add(f"{at}.op", f"Must be one of {', '.join(CONDITION_OPS)}.")
        return
    value = condition.get("value")
    if op == "exists":
        if not isinstance(condition.get("value", True), bool):
            add(f"{at}.value", "Must be true (present) or false (absent); absent means true.")
    elif "value" not in condition:
        add(f"{at}.value", "Required.")
    elif op in ORDER_OPS:
        if not is_number(value):
            add(f"{at}.value", "Must be a number.")
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            add(f"{at}.value", f"Must be a list of 1 to {MAX_IN_VALUES} values.")
        elif not all(is_scalar(v) for v in value):
            add(f"{at}.value", "Each value must be a string, number, boolean or null.")
    elif not is_scalar(value):
        add(f"{at}.value", "Must be a string, number, boolean or null.")


def extract_fields(
    paths: tuple[str, ...], input: Mapping[str, Any] | None, output: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The values at ``paths`` in the envelope; a path that does not resolve is left out."""
    roots = {"input": input, "output": output}
    found: dict[str, Any] = {}
    for path in paths:
        root, *keys = path.split(".")
        value: Any = roots[root]
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                break
            value = value[key]
        else:
            found[path] = value
    return found


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    return "string" if isinstance(value, str) else "other"


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1 and "1" is not 1."""
    kind = json_kind(a)
    return kind != "other" and kind == json_kind(b) and a == b


def condition_holds(condition: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    op = condition["op"]
    present = condition["field"] in fields
    if op == "exists":
        return present == condition.get("value", True)
    if not present:
        return False  # a missing value satisfies no comparison, not even != or not_in
    value, expected = fields[condition["field"]], condition["value"]
    if op == "==":
        return json_equal(value, expected)
    if op == "!=":
        return not json_equal(value, expected)
    if op == "in":
        return any(json_equal(value, v) for v in expected)
    if op == "not_in":
        return not any(json_equal(value, v) for v in expected)
    if json_kind(value) != "number":
        return False
    if op == "<":
        return value < expected
    if op == "<=":
        return value <= expected
    if op == ">":
        return value > expected
    return value >= expected
