"""What the quality app registers with core from ``ready()``: audit verbs, notification kinds,
nav entries, and its handlers of the queue's hooks. Each part appends its own lines below."""

from __future__ import annotations


def register() -> None:
    from reviewapp.core import registry
    from reviewapp.services.decisions import DECISION_RECORDED_HOOK, DECISION_UNDONE_HOOK

    from . import verbs
    from .services import on_decision

    verbs.register_audit_verbs()
    registry.register_hook(DECISION_RECORDED_HOOK, on_decision.decision_recorded)
    registry.register_hook(DECISION_UNDONE_HOOK, on_decision.decision_undone)
    # --- parts ---
    # labels: the trust columns of exported and fed labels (delivery asks per batch).
    from reviewapp.delivery.selectors import LABEL_ANNOTATIONS_HOOK

    from .selectors import labels

    registry.register_hook(LABEL_ANNOTATIONS_HOOK, labels.label_annotations)
    # --- end labels ---
