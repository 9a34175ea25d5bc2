"""The incident lifecycle in core's state machine.

detected → triaged → contained → remediated → verified → closed, or cancelled from any open
state. Containment may come before triage (contain first, understand later) and a fix may go
in without containment (triaged → remediated), so the table is not a single line; every
transition stamps the milestone it reaches, and a milestone already reached is kept.
"""

from __future__ import annotations

from reviewapp.core import state
from reviewapp.core.state import transition

from ..models import Incident

S = Incident.Status
OPEN = (S.DETECTED, S.TRIAGED, S.CONTAINED, S.REMEDIATED, S.VERIFIED)

INCIDENT = state.Machine(
    model=Incident,
    events={
        "triage": transition(S.DETECTED, S.TRIAGED, "playbooks.incident.triaged"),
        "contain": transition({S.DETECTED, S.TRIAGED}, S.CONTAINED, "playbooks.incident.contained"),
        "remediate": transition(
            {S.TRIAGED, S.CONTAINED}, S.REMEDIATED, "playbooks.incident.remediated"
        ),
        "verify": transition(S.REMEDIATED, S.VERIFIED, "playbooks.incident.verified"),
        # Verification failed: back to work on the fix.
        "reopen": transition(S.VERIFIED, S.CONTAINED, "playbooks.incident.reopened"),
        "close": transition(S.VERIFIED, S.CLOSED, "playbooks.incident.closed"),
        "cancel": transition(
            {S.DETECTED, S.TRIAGED, S.CONTAINED, S.REMEDIATED},
            S.CANCELLED,
            "playbooks.incident.cancelled",
        ),  # fmt: skip
    },
    match=("version",),
)

# The milestone each event stamps (when not yet reached).
MILESTONE_OF = {
    "triage": "triaged_at",
    "contain": "contained_at",
    "remediate": "remediated_at",
    "verify": "verified_at",
    "close": "closed_at",
    "cancel": "cancelled_at",
}

EVENT_LABELS = {
    "triage": "Mark triaged",
    "contain": "Mark contained",
    "remediate": "Mark remediated",
    "verify": "Mark verified",
    "reopen": "Reopen (verification failed)",
    "close": "Close",
    "cancel": "Cancel incident",
}
