"""An incident's checklist, computed: the pinned playbook version's steps, what was recorded
against them, and the facts their conditions read, in; each step's state and the next step
out. Pure: no database, no clock (``steps.incident_checklist`` reads the rows and calls it).

The walk: with nothing recorded the checklist starts at the first step; after a record it
goes where that record leads (a decision point's chosen branch, a step's ``next``, else the
following step), so recording a step again (a branch that loops back) moves the checklist
again from there. From that place it passes over steps whose condition is false (they are
not applicable) and stops at the first step to do: the current one. Steps still reachable
from it by any branch, without going round a loop through recorded steps, are upcoming; a step without a record that cannot be reached any more
was not on the path taken (the other branch of a decision).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from playbooks import conditions
from playbooks.document import PHASE_LABELS, STEP_ROLES, successors

DONE = "done"
SKIPPED = "skipped"
NOT_APPLICABLE = "not_applicable"
CURRENT = "current"
UPCOMING = "upcoming"
OFF_PATH = "off_path"
STATE_LABELS = {
    DONE: "done",
    SKIPPED: "skipped",
    NOT_APPLICABLE: "not applicable",
    CURRENT: "to do now",
    UPCOMING: "upcoming",
    OFF_PATH: "not on the path taken",
}
RESULT_WORDS = {True: "true", False: "false", None: "unknown"}


@dataclass(frozen=True)
class Record:
    """One IncidentStep row, as the checklist reads it."""

    seq: int
    step_key: str
    outcome: str
    branch: Mapping[str, Any] = field(default_factory=dict)
    artifacts: tuple[Mapping[str, Any], ...] = ()
    note: str = ""
    done_by: str | None = None
    done_at: dt.datetime | None = None

    @property
    def outcome_label(self) -> str:
        return STATE_LABELS.get(self.outcome, self.outcome).capitalize()


@dataclass(frozen=True)
class StepState:
    key: str
    number: int
    title: str
    phase: str
    kind: str
    role: str
    instructions: str
    expected_artifacts: tuple[Mapping[str, Any], ...]
    branches: tuple[Mapping[str, Any], ...]
    escalate_to: str
    condition: str
    condition_words: str
    # "true", "false", "unknown", or "" when the step has no condition.
    condition_result: str
    state: str
    # Every time it was recorded, oldest first (a step in a loop may run more than once).
    records: tuple[Record, ...]

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def phase_label(self) -> str:
        return PHASE_LABELS.get(self.phase, self.phase)

    @property
    def role_label(self) -> str:
        return STEP_ROLES.get(self.role, self.role)

    @property
    def last(self) -> Record | None:
        return self.records[-1] if self.records else None


@dataclass(frozen=True)
class Checklist:
    steps: tuple[StepState, ...]
    # The step to do now (None: the playbook has been followed to its end).
    current: str | None
    # The step keys in the order they were recorded.
    path: tuple[str, ...]

    @property
    def finished(self) -> bool:
        return self.current is None

    def step(self, key: str) -> StepState | None:
        return next((s for s in self.steps if s.key == key), None)


def condition_result(step: Mapping[str, Any], facts: Mapping[str, str | None]) -> bool | None:
    """True when the step applies (no condition, or it holds), False when it does not, None
    while a fact it reads is not known."""
    text = step.get("condition") or ""
    try:
        return conditions.evaluate(text, facts)
    except conditions.ConditionError:  # a saved version was validated; never guess
        return None


def after(steps: list[dict[str, Any]], i: int, record: Record) -> int:
    """Where recording step ``i`` leads (len(steps): the end)."""
    index = {s["key"]: n for n, s in enumerate(steps)}
    target = (record.branch or {}).get("target")
    if steps[i]["kind"] == "decision":
        # A decision recorded without a branch (refused by the service) stays put.
        return index.get(target, i) if isinstance(target, str) else i
    return successors(steps, i)[0]


def compute(
    document: Mapping[str, Any],
    records: Iterable[Record],
    facts: Mapping[str, str | None],
) -> Checklist:
    steps: list[dict[str, Any]] = list(document.get("steps") or [])
    index = {s["key"]: n for n, s in enumerate(steps)}
    end = len(steps)
    results = [condition_result(s, facts) for s in steps]
    by_step: dict[int, list[Record]] = {}
    path: list[str] = []
    cursor = 0
    for record in sorted(records, key=lambda r: r.seq):
        i = index.get(record.step_key)
        if i is None:  # a pinned version never loses a step; ignore what cannot be placed
            continue
        by_step.setdefault(i, []).append(record)
        path.append(record.step_key)
        cursor = after(steps, i, record)
    # Pass over steps that do not apply; a decision point always waits for a person (its
    # branch cannot be guessed), and the walk stops after visiting every step once.
    seen: set[int] = set()
    while cursor < end and cursor not in seen and results[cursor] is False:
        if steps[cursor]["kind"] == "decision":
            break
        seen.add(cursor)
        cursor = successors(steps, cursor)[0]
    current = cursor if cursor < end else None
    reachable: set[int] = set()
    todo = [current] if current is not None else []
    while todo:
        n = todo.pop()
        if n >= end or n in reachable:
            continue
        reachable.add(n)
        # A step already recorded is behind us: what lies past it is reached only by going
        # round the loop again, which is not "upcoming" for the path taken so far.
        if n == current or n not in by_step:
            todo.extend(successors(steps, n))

    out = []
    for i, step in enumerate(steps):
        mine = tuple(by_step.get(i, ()))
        if i == current:
            state = CURRENT
        elif mine:
            state = mine[-1].outcome
        elif results[i] is False:
            state = NOT_APPLICABLE
        elif i in reachable:
            state = UPCOMING
        else:
            state = OFF_PATH
        text = step.get("condition") or ""
        out.append(
            StepState(
                key=step["key"],
                number=i + 1,
                title=step.get("title", ""),
                phase=step.get("phase", ""),
                kind=step.get("kind", "task"),
                role=step.get("role", ""),
                instructions=step.get("instructions", ""),
                expected_artifacts=tuple(step.get("artifacts") or ()),
                branches=tuple(step.get("branches") or ()),
                escalate_to=step.get("escalate_to", ""),
                condition=text,
                condition_words=conditions.in_words(text),
                condition_result=RESULT_WORDS[results[i]] if text else "",
                state=state,
                records=mine,
            )
        )
    return Checklist(
        steps=tuple(out),
        current=steps[current]["key"] if current is not None else None,
        path=tuple(path),
    )
