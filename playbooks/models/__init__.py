"""The playbooks app's records: playbooks and their immutable versions, and the incidents that
run them (roles, links, checklist, root-cause hypotheses, rollback decisions, re-reviews,
post-mortems and action items)."""

from .incidents import (
    ActionItem,
    Hypothesis,
    Incident,
    IncidentAlert,
    IncidentFailureMode,
    IncidentItem,
    IncidentMember,
    IncidentModel,
    IncidentNote,
    IncidentStep,
    PostMortem,
    RecoveryDecision,
)
from .playbooks import Playbook, PlaybookIndex, PlaybookVersion

__all__ = [
    "ActionItem",
    "Hypothesis",
    "Incident",
    "IncidentAlert",
    "IncidentFailureMode",
    "IncidentItem",
    "IncidentMember",
    "IncidentModel",
    "IncidentNote",
    "IncidentStep",
    "Playbook",
    "PlaybookIndex",
    "PlaybookVersion",
    "PostMortem",
    "RecoveryDecision",
]
