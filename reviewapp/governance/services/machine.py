"""The change request's transition table (core's state machine)."""

from __future__ import annotations

from reviewapp.core.state import Machine, transition

from ..models import ChangeRequest

S = ChangeRequest.Status
OPEN = {S.DRAFT, S.IN_REVIEW, S.CHANGES_REQUESTED, S.APPROVED, S.SHADOW, S.SCHEDULED}

CHANGE_REQUEST = Machine(
    model=ChangeRequest,
    events={
        "submit": transition({S.DRAFT}, S.IN_REVIEW, "governance.change_request.submitted"),
        "request_changes": transition(
            {S.IN_REVIEW}, S.CHANGES_REQUESTED, "governance.change_request.returned"
        ),
        "resubmit": transition(
            {S.CHANGES_REQUESTED}, S.IN_REVIEW, "governance.change_request.resubmitted"
        ),
        "approve": transition({S.IN_REVIEW}, S.APPROVED, "governance.change_request.approved"),
        "schedule": transition(
            {S.APPROVED, S.SHADOW}, S.SCHEDULED, "governance.change_request.scheduled"
        ),
        # An approved request with a shadow period runs beside the active version first.
        "shadow": transition({S.APPROVED}, S.SHADOW, "governance.change_request.shadow_started"),
        "apply": transition(
            {S.APPROVED, S.SHADOW, S.SCHEDULED}, S.APPLIED, "governance.change_request.applied"
        ),
        # An emergency rollback (a lead, at once) and the seed's bootstrap (the system).
        "apply_now": transition({S.DRAFT}, S.APPLIED, "governance.change_request.applied"),
        "reject": transition({S.IN_REVIEW}, S.REJECTED, "governance.change_request.rejected"),
        "withdraw": transition(OPEN, S.WITHDRAWN, "governance.change_request.withdrawn"),
        "expire": transition(OPEN, S.EXPIRED, "governance.change_request.expired"),
        # Rebasing an approved or scheduled request sends it back for votes on the new base.
        "rebase": transition(
            {S.IN_REVIEW, S.APPROVED, S.SHADOW, S.SCHEDULED},
            S.IN_REVIEW,
            "governance.change_request.rebased",
        ),
    },
    snapshot={"status": "status", "stale": "stale", "revision": "revision"},
    match=("revision",),
)
