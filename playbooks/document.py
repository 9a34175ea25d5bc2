"""What a playbook version holds, and the checks every version passes (pure: the catalog's
failure modes and the known monitors are handed in).

A version is one JSON document, stored whole and never changed (models.PlaybookVersion):

    {"title", "summary", "owner", "failure_modes": [slug], "triggers": [{"monitor", "kind"}],
     "severities": {"S1": meaning, …, "S4": meaning},
     "steps": [{"key", "phase", "title", "instructions", "role", "artifacts": [{"kind",
                "label"}], "condition", "kind", "branches": [{"label", "target"}],
                "escalate_to", "next"}],
     "templates": {"status_update", "stakeholder_notice", "resolution_notice"}}

Steps run in order; a decision point jumps to the step its chosen branch names, and a step
with ``next`` jumps to that step when done (so a branch rejoins the main line). Every step
must be able to reach the end (a branch may loop back, e.g. "not fixed yet → remediation",
as long as some path leaves the loop).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from reviewapp.core.params import unstorable

from . import conditions, messages

PHASES = ("triage", "evidence", "containment", "remediation", "verification", "communication")
PHASE_LABELS = {
    "triage": "Triage",
    "evidence": "Evidence",
    "containment": "Containment",
    "remediation": "Remediation",
    "verification": "Verification",
    "communication": "Communication",
}
# Who does a step: the incident's roles, and the app roles a step may need (a lead lifts a
# containment, the committee approves a threshold change).
STEP_ROLES = {
    "commander": "Incident commander",
    "scribe": "Scribe",
    "liaison": "Communications liaison",
    "participant": "Any participant",
    "lead": "Lead",
    "committee": "Committee",
}
ESCALATE_TO = ("lead", "committee", "commander")
STEP_KINDS = {"task": "Step", "decision": "Decision point", "escalation": "Escalation point"}
ARTIFACT_KINDS = {"link": "Link", "file": "File", "query": "Query result", "number": "Number"}
# The same values as tuples, for the API schema's enum names (settings.ENUM_NAME_OVERRIDES).
STEP_KIND_VALUES = tuple(STEP_KINDS)
ARTIFACT_KIND_VALUES = tuple(ARTIFACT_KINDS)
TRIGGER_KINDS = ("any", "spike", "shift")
SEVERITIES = ("S1", "S2", "S3", "S4")
KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MAX_STEPS = 60
MAX_BRANCHES = 6
MAX_ARTIFACTS = 8
MAX_TEXT = 10_000
TOP_KEYS = ("title", "summary", "owner", "failure_modes", "triggers", "severities", "steps",
            "templates")  # fmt: skip
STEP_KEYS = ("key", "phase", "title", "instructions", "role", "artifacts", "condition", "kind",
             "branches", "escalate_to", "next")  # fmt: skip


@dataclass
class Known:
    """What a document may name: catalog failure modes, monitor names, owner usernames."""

    failure_modes: set[str] = field(default_factory=set)
    monitors: set[str] = field(default_factory=set)
    owners: set[str] = field(default_factory=set)


class Errors(dict):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def _text(
    doc: Mapping[str, Any],
    key: str,
    at: str,
    errors: Errors,
    *,
    required: bool,
    max_length: int = MAX_TEXT,
) -> str:
    value = doc.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(at, _("Must be text."))
        return ""
    value = value.strip()
    if unstorable(value):
        errors.add(at, _("Contains a NUL character or a broken surrogate."))
        return ""
    if required and not value:
        errors.add(at, _("Required."))
    if len(value) > max_length:
        errors.add(at, _("At most %d characters.") % max_length)
    return value


def _one_of(value: Any, allowed: Iterable[str]) -> bool:
    """``value`` is one of ``allowed`` (a list or an object from JSON is not, and is not
    hashed)."""
    return isinstance(value, str) and value in allowed


def _list(doc: Mapping[str, Any], key: str, at: str, errors: Errors, limit: int) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        errors.add(at, _("Must be a list."))
        return []
    if len(value) > limit:
        errors.add(at, _("At most %d entries.") % limit)
        return []
    return value


def validate(doc: Any, known: Known) -> tuple[dict[str, Any], Errors]:
    """The normalised document and the errors by field path (``steps[2].condition``)."""
    errors = Errors()
    if not isinstance(doc, Mapping):
        errors.add("detail", _("A playbook is a JSON object."))
        return {}, errors
    for key in sorted(set(doc) - set(TOP_KEYS), key=str):
        errors.add(str(key), _("Unknown field."))
    out: dict[str, Any] = {
        "title": _text(doc, "title", "title", errors, required=True, max_length=200),
        "summary": _text(doc, "summary", "summary", errors, required=False, max_length=2000),
        "owner": _text(doc, "owner", "owner", errors, required=True, max_length=150),
    }
    if out["owner"] and out["owner"] not in known.owners:
        errors.add("owner", _("“%s” is not an engineer or lead who could own it.") % out["owner"])

    modes = []
    for i, slug in enumerate(_list(doc, "failure_modes", "failure_modes", errors, 50)):
        if not isinstance(slug, str) or slug not in known.failure_modes:
            errors.add(f"failure_modes[{i}]", _("“%s” is not a catalog failure mode.") % slug)
        elif slug not in modes:
            modes.append(slug)
    out["failure_modes"] = modes

    triggers = []
    for i, trig in enumerate(_list(doc, "triggers", "triggers", errors, 30)):
        at = f"triggers[{i}]"
        if not isinstance(trig, Mapping):
            errors.add(at, _('Must be an object: {"monitor": …, "kind": …}.'))
            continue
        for key in sorted(set(trig) - {"monitor", "kind"}, key=str):
            errors.add(f"{at}.{key}", _("Unknown field."))
        monitor, kind = trig.get("monitor"), trig.get("kind") or "any"
        if not isinstance(monitor, str) or monitor not in known.monitors:
            errors.add(
                f"{at}.monitor",
                _("“%(m)s” is not a monitor (known: %(known)s).")
                % {"m": monitor, "known": ", ".join(sorted(known.monitors))},
            )
        if not _one_of(kind, TRIGGER_KINDS):
            errors.add(f"{at}.kind", _("Must be one of %s.") % ", ".join(TRIGGER_KINDS))
        entry = {"monitor": monitor, "kind": kind}
        if entry not in triggers:
            triggers.append(entry)
    out["triggers"] = triggers

    severities = doc.get("severities") or {}
    if not isinstance(severities, Mapping):
        errors.add("severities", _("Must be an object with S1 to S4."))
        severities = {}
    for key in sorted(set(severities) - set(SEVERITIES), key=str):
        errors.add(f"severities.{key}", _("Unknown severity: use S1 to S4."))
    out["severities"] = {
        s: _text(severities, s, f"severities.{s}", errors, required=True, max_length=1000)
        for s in SEVERITIES
    }

    out["steps"] = _steps(_list(doc, "steps", "steps", errors, MAX_STEPS), known, errors)
    if not out["steps"] and "steps" not in errors:
        errors.add("steps", _("A playbook needs at least one step."))

    templates = doc.get("templates") or {}
    if not isinstance(templates, Mapping):
        errors.add("templates", _("Must be an object."))
        templates = {}
    for key in sorted(set(templates) - set(messages.KINDS), key=str):
        errors.add(f"templates.{key}", _("Unknown template: use %s.") % ", ".join(messages.KINDS))
    out["templates"] = {}
    for kind in messages.KINDS:
        at = f"templates.{kind}"
        text = _text(templates, kind, at, errors, required=True, max_length=messages.MAX_LENGTH)
        try:
            messages.placeholders_in(text)
        except messages.TemplateError as exc:
            errors.add(at, str(exc))
        out["templates"][kind] = text
    return out, errors


def _steps(raw: list[Any], known: Known, errors: Errors) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    keys: dict[str, int] = {}
    cond_known = {"alert.monitor": known.monitors, "failure_mode": known.failure_modes}
    for i, step in enumerate(raw):
        at = f"steps[{i}]"
        if not isinstance(step, Mapping):
            errors.add(at, _("Must be an object."))
            continue
        for key in sorted(set(step) - set(STEP_KEYS), key=str):
            errors.add(f"{at}.{key}", _("Unknown field."))
        key = step.get("key") or f"step-{i + 1}"
        if not isinstance(key, str) or not KEY.match(key):
            errors.add(f"{at}.key", _("Lower-case letters, digits and dashes, up to 40."))
            key = f"step-{i + 1}"
        elif key in keys:
            errors.add(f"{at}.key", _("“%s” is already the key of another step.") % key)
        keys.setdefault(key, i)
        phase = step.get("phase")
        if not _one_of(phase, PHASES):
            errors.add(f"{at}.phase", _("Must be one of %s.") % ", ".join(PHASES))
        role = step.get("role")
        if not _one_of(role, STEP_ROLES):
            errors.add(f"{at}.role", _("Must be one of %s.") % ", ".join(STEP_ROLES))
        kind = step.get("kind") or "task"
        if not _one_of(kind, STEP_KINDS):
            errors.add(f"{at}.kind", _("Must be one of %s.") % ", ".join(STEP_KINDS))
        condition = _text(step, "condition", f"{at}.condition", errors, required=False)
        if condition:
            try:
                conditions.parse(condition, known=cond_known)
            except conditions.ConditionError as exc:
                errors.add(f"{at}.condition", str(exc))
        artifacts = []
        for j, art in enumerate(_list(step, "artifacts", f"{at}.artifacts", errors, MAX_ARTIFACTS)):
            if not isinstance(art, Mapping) or not _one_of(art.get("kind"), ARTIFACT_KINDS):
                errors.add(
                    f"{at}.artifacts[{j}].kind",
                    _("Must be one of %s.") % ", ".join(ARTIFACT_KINDS),
                )
                continue
            label = _text(art, "label", f"{at}.artifacts[{j}].label", errors, required=True,
                          max_length=200)  # fmt: skip
            artifacts.append({"kind": art["kind"], "label": label})
        branches = []
        raw_branches = _list(step, "branches", f"{at}.branches", errors, MAX_BRANCHES)
        if kind == "decision" and len(raw_branches) < 2:
            errors.add(f"{at}.branches", _("A decision point needs at least two branches."))
        if kind != "decision" and raw_branches:
            errors.add(f"{at}.branches", _("Only a decision point has branches."))
        labels = set()
        for j, br in enumerate(raw_branches):
            if not isinstance(br, Mapping):
                errors.add(f"{at}.branches[{j}]", _('Must be {"label": …, "target": …}.'))
                continue
            label = _text(br, "label", f"{at}.branches[{j}].label", errors, required=True,
                          max_length=120)  # fmt: skip
            if label in labels:
                errors.add(f"{at}.branches[{j}].label", _("Two branches have this label."))
            labels.add(label)
            target = br.get("target")
            if not isinstance(target, str):
                errors.add(f"{at}.branches[{j}].target", _("Must be a step's key."))
                target = ""
            branches.append({"label": label, "target": target})
        escalate_to = step.get("escalate_to") or ""
        if not isinstance(escalate_to, str):
            errors.add(f"{at}.escalate_to", _("Must be text."))
            escalate_to = ""
        elif kind == "escalation" and escalate_to not in ESCALATE_TO:
            errors.add(f"{at}.escalate_to", _("Escalate to one of %s.") % ", ".join(ESCALATE_TO))
        if kind != "escalation" and escalate_to:
            errors.add(f"{at}.escalate_to", _("Only an escalation point escalates."))
        next_key = step.get("next") or ""
        if not isinstance(next_key, str):
            errors.add(f"{at}.next", _("Must be a step's key."))
            next_key = ""
        if kind == "decision" and next_key:
            errors.add(f"{at}.next", _("A decision point goes where its branches say."))
        steps.append({
            "key": key,
            "phase": phase,
            "title": _text(step, "title", f"{at}.title", errors, required=True, max_length=200),
            "instructions": _text(step, "instructions", f"{at}.instructions", errors,
                                  required=False),
            "role": role,
            "artifacts": artifacts,
            "condition": condition,
            "kind": kind,
            "branches": branches,
            "escalate_to": escalate_to,
            "next": next_key,
        })  # fmt: skip

    # Phases in order: a step never comes before one of an earlier phase.
    rank = {p: n for n, p in enumerate(PHASES)}
    highest = -1
    for i, step in enumerate(steps):
        r = rank.get(step["phase"], -1)
        if 0 <= r < highest:
            errors.add(
                f"steps[{i}].phase",
                _("“%(phase)s” comes after a %(prev)s step: phases run in the order %(order)s.")
                % {"phase": step["phase"], "prev": PHASES[highest], "order": ", ".join(PHASES)},
            )
        highest = max(highest, r)

    index = {s["key"]: n for n, s in enumerate(steps)}
    for i, step in enumerate(steps):
        for j, br in enumerate(step["branches"]):
            if br["target"] not in index:
                errors.add(
                    f"steps[{i}].branches[{j}].target",
                    _("No step has the key “%s”.") % br["target"],
                )
            elif br["target"] == step["key"]:
                errors.add(f"steps[{i}].branches[{j}].target", _("A branch cannot stay put."))
        if step["next"] and step["next"] not in index:
            errors.add(f"steps[{i}].next", _("No step has the key “%s”.") % step["next"])
        elif step["next"] == step["key"]:
            errors.add(f"steps[{i}].next", _("A step cannot lead to itself."))
    if not any(e.startswith("steps") for e in errors):
        # Name the steps on the loop itself, not every step that leads into it.
        for i in on_a_cycle(steps, unending(steps)):
            errors.add(
                f"steps[{i}]",
                _("Every path from “%s” loops back without reaching the end of the playbook.")
                % steps[i]["title"],
            )
    return steps


def successors(steps: list[dict[str, Any]], i: int) -> list[int]:
    """Where step ``i`` may lead: its branches' targets for a decision point, the step its
    ``next`` names (a branch rejoining the main line), else the following step
    (len(steps) is the end)."""
    index = {s["key"]: n for n, s in enumerate(steps)}
    if steps[i]["kind"] == "decision":
        return [index[b["target"]] for b in steps[i]["branches"] if b["target"] in index]
    if steps[i].get("next") in index:
        return [index[steps[i]["next"]]]
    return [i + 1]


def unending(steps: list[dict[str, Any]]) -> list[int]:
    """The steps from which no path reaches the end: the cycles that cannot end."""
    end = len(steps)
    reaches = {end}
    changed = True
    while changed:
        changed = False
        for i in range(len(steps)):
            if i not in reaches and any(n in reaches for n in successors(steps, i)):
                reaches.add(i)
                changed = True
    return [i for i in range(len(steps)) if i not in reaches]


def on_a_cycle(steps: list[dict[str, Any]], among: list[int]) -> list[int]:
    """Those of ``among`` that can come back to themselves."""
    out = []
    for i in among:
        seen, todo = set(), list(successors(steps, i))
        while todo:
            n = todo.pop()
            if n == i:
                out.append(i)
                break
            if n < len(steps) and n not in seen:
                seen.add(n)
                todo.extend(successors(steps, n))
    return out


def by_phase(steps: Iterable[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """[(phase, its steps)] in phase order, leaving out empty phases; each step numbered."""
    groups: dict[str, list[dict[str, Any]]] = {p: [] for p in PHASES}
    for n, step in enumerate(steps, start=1):
        groups.setdefault(step["phase"], []).append({**step, "number": n})
    return [(p, groups[p]) for p in PHASES if groups[p]]
