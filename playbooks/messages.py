"""Communication templates: placeholders checked at save, one pure render function.

A template is plain text with ``{placeholder}`` fields filled from the incident
(``{model}``, ``{severity}``, ``{impact_so_far}``, …); ``{{`` and ``}}`` are literal braces.
Only the names in :data:`PLACEHOLDERS` are allowed, bare: no attribute, index, conversion or
format spec (``{model.__class__}``, ``{severity!r}``, ``{x:>10}`` are refused), so a template
can never reach into an object.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from django.utils.translation import gettext as _

PLACEHOLDERS: dict[str, str] = {
    "model": "the model's name (slug)",
    "severity": "the incident's severity (S1–S4)",
    "severity_meaning": "what that severity means, from the playbook",
    "impact_so_far": "the impact measured so far, in words",
    "mode": "the model's operating mode (normal, contained, halted)",
    "next_update_at": "when the next update goes out (time and zone)",
    "failure_mode": "the failure mode's title",
    "incident": "the incident's number and title",
    "commander": "the incident commander",
    "status": "the incident's state (detected, triaged, contained, …)",
    "started_at": "when the impact started",
    "playbook": "the playbook's title and version",
}
KINDS = {
    "status_update": "Status update",
    "stakeholder_notice": "Stakeholder notice",
    "resolution_notice": "Resolution notice",
}
MAX_LENGTH = 5000
NOT_KNOWN = "(not known yet)"


class TemplateError(ValueError):
    pass


def placeholders_in(text: str) -> list[str]:
    """The placeholder names ``text`` uses, in order, or TemplateError naming the problem."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(
            _("Unbalanced braces (%s): write {{ or }} for a literal brace.") % exc
        ) from None
    names: list[str] = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name == "":
            raise TemplateError(_("An empty {} placeholder: name one, e.g. {model}."))
        if conversion or spec:
            raise TemplateError(
                _("“{%s}”: a placeholder is a bare name, without ! or : parts.") % name
            )
        if name not in PLACEHOLDERS:
            raise TemplateError(
                _("Unknown placeholder {%(name)s}: use one of %(known)s.")
                % {"name": name, "known": ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)}
            )
        if name not in names:
            names.append(name)
    return names


def render(text: str, values: Mapping[str, object]) -> str:
    """``text`` with each placeholder replaced by its value ("(not known yet)" when the
    incident has none). Pure: no database, no clock."""
    placeholders_in(text)  # refuses what validation would have refused
    filled = {
        name: (NOT_KNOWN if values.get(name) in (None, "") else str(values[name]))
        for name in PLACEHOLDERS
    }
    return text.format_map(filled)
