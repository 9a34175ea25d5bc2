"""The monitors document: what each model's monitors watch, and what they do about it.

A governed document of its own kind (``monitors``), versioned and hashed apart from the
routing policy, so a monitor edit never makes a threshold request stale and a threshold
rollback never restores old monitors. Pure: a document in, problems by path out. The metric
names come from the ``governance.metric_names`` hook (the dashboards register it); the
fail-safe app evaluates the active version (reviewapp/failsafe/monitors.py, docs/failsafe.md).

Shape::

    {"monitors": [
        {"name": "uncertain-rate", "metric": "uncertain_rate", "op": ">", "bound": 0.35,
         "duration_minutes": 30, "severity": "S3", "action": "notify",
         "resolve_minutes": 30, "shift_sample_size": 20},
        ...
    ]}
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.utils.translation import gettext as _

OPS = (">", "<")
SEVERITIES = ("S1", "S2", "S3", "S4")
ACTIONS = ("notify", "contain", "halt")
REQUIRED_KEYS = ("name", "metric", "op", "bound", "duration_minutes", "severity", "action")
OPTIONAL_KEYS = ("resolve_minutes", "shift_sample_size", "description")
MAX_MONITORS = 50
MAX_MINUTES = 24 * 60
MAX_SHIFT_SAMPLE = 500
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def validate_monitors(document: Any, *, metric_names: set[str]) -> dict[str, list[str]]:
    """Problems by path (``monitors[2].bound``); empty when the document is valid.

    ``metric_names``: the metrics a monitor may read (empty: any well-formed name)."""
    if not isinstance(document, dict):
        return {"": [_("Must be a JSON object.")]}
    errors: dict[str, list[str]] = {}
    for key in sorted(set(document) - {"monitors"}):
        errors[key] = [_("Unknown key.")]
    monitors = document.get("monitors")
    if not isinstance(monitors, list):
        errors["monitors"] = [_("Required: a list of monitors (it may be empty).")]
        return errors
    if len(monitors) > MAX_MONITORS:
        errors["monitors"] = [_("At most %d monitors.") % MAX_MONITORS]
        return errors
    seen: set[str] = set()
    for i, monitor in enumerate(monitors):
        at = f"monitors[{i}]"
        if not isinstance(monitor, dict):
            errors[at] = [_("Must be an object.")]
            continue
        for key in sorted(set(monitor) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)):
            errors[f"{at}.{key}"] = [_("Unknown key.")]
        name = monitor.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            errors[f"{at}.name"] = [
                _("Required: lower-case letters, digits, '-' or '_', at most 100 characters.")
            ]
        elif name in seen:
            errors[f"{at}.name"] = [_("Another monitor has this name.")]
        else:
            seen.add(name)
        metric = monitor.get("metric")
        if not isinstance(metric, str) or not METRIC_NAME.match(metric):
            errors[f"{at}.metric"] = [_("Required: a metric name.")]
        elif metric_names and metric not in metric_names:
            errors[f"{at}.metric"] = [
                _("Unknown metric; one of %s.") % ", ".join(sorted(metric_names))
            ]
        if monitor.get("op") not in OPS:
            errors[f"{at}.op"] = [_("Required: '>' or '<'.")]
        bound = monitor.get("bound")
        if (
            isinstance(bound, bool)
            or not isinstance(bound, int | float)
            or not math.isfinite(bound)
        ):
            errors[f"{at}.bound"] = [_("Required: a number.")]
        if not _whole(monitor.get("duration_minutes"), 1, MAX_MINUTES):
            errors[f"{at}.duration_minutes"] = [
                _("Required: whole minutes from 1 to %d.") % MAX_MINUTES
            ]
        if monitor.get("severity") not in SEVERITIES:
            errors[f"{at}.severity"] = [_("Required: one of %s.") % ", ".join(SEVERITIES)]
        if monitor.get("action") not in ACTIONS:
            errors[f"{at}.action"] = [_("Required: one of %s.") % ", ".join(ACTIONS)]
        if "resolve_minutes" in monitor and not _whole(monitor["resolve_minutes"], 1, MAX_MINUTES):
            errors[f"{at}.resolve_minutes"] = [_("Whole minutes from 1 to %d.") % MAX_MINUTES]
        if "shift_sample_size" in monitor and not _whole(
            monitor["shift_sample_size"], 0, MAX_SHIFT_SAMPLE
        ):
            errors[f"{at}.shift_sample_size"] = [
                _("A whole number from 0 to %d.") % MAX_SHIFT_SAMPLE
            ]
        if "description" in monitor and not (
            isinstance(monitor["description"], str) and len(monitor["description"]) <= 500
        ):
            errors[f"{at}.description"] = [_("Text of at most 500 characters.")]
    return errors
