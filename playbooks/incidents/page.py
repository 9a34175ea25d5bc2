"""The incident page is made of sections, each with its own template and context function, so
each part of an incident (checklist, timeline, re-review, root cause, recovery, post-mortem)
lives in its own module and the page view only puts them in order.

A section: ``Section(key, title, template, context)`` where ``context(request, incident,
can_run) -> dict`` returns what its template reads (under ``section``). A section whose
context returns None is not shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from ..models import Incident


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    template: str
    context: Callable[[HttpRequest, Incident, bool], dict[str, Any] | None]


def sections() -> list[Section]:
    """The page's sections in order (imported here so each module stays independent)."""
    found: list[Section] = []
    for provider in PROVIDERS:
        found.extend(provider())
    # The order an incident is worked in; a section not named here comes last.
    rank = {key: i for i, key in enumerate(ORDER)}
    return sorted(found, key=lambda s: rank.get(s.key, len(ORDER)))


def _checklist_and_communications() -> list[Section]:
    from .views_checklist import page_sections

    return page_sections()


ORDER = (
    "attention",
    "checklist",
    "affected",
    "root-cause",
    "recovery",
    "communications",
    "postmortem",
    "timeline",
)

# Each provider: fn() -> [Section]. Modules add theirs here.
PROVIDERS: list[Callable[[], list[Section]]] = [_checklist_and_communications]


def _recovery() -> list[Section]:
    from .views_recovery import sections as recovery_sections

    return recovery_sections()


PROVIDERS.append(_recovery)
