"""The alert's state machine: open → acknowledged → resolved (core/state.py).

``acknowledge`` is a person's (``alert_acknowledge``); ``resolve`` is the evaluator's, once the
metric has stayed inside its bound for the set time (``alert_resolve``), from open or
acknowledged alike. No other code writes ``Alert.state``.
"""

from __future__ import annotations

from reviewapp.core.state import Machine, transition

from ..models import Alert

OPEN = Alert.State.OPEN
ACKNOWLEDGED = Alert.State.ACKNOWLEDGED
RESOLVED = Alert.State.RESOLVED

ALERT = Machine(
    model=Alert,
    status_field="state",
    events={
        "acknowledge": transition({OPEN}, ACKNOWLEDGED, "failsafe.alert.acknowledged"),
        "resolve": transition({OPEN, ACKNOWLEDGED}, RESOLVED, "failsafe.alert.resolved"),
    },
    # JSON-plain columns only (the audit log stores before/after as JSON); the times go in
    # the event's data as ISO strings.
    snapshot={"state": "state", "acknowledged_by": "acknowledged_by_id"},
)
