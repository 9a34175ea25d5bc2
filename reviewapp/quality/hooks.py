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
    # --- gold ---
    from django.utils.translation import gettext_lazy as _

    from reviewapp.core import roles
    from reviewapp.models import Purpose

    from .services import gold
    from .views import gold as gold_views

    for purpose in (Purpose.GOLD, Purpose.QUALIFICATION):
        on_decision.on_decided(purpose, gold.gold_serving_score)
        on_decision.on_undone(purpose, gold.gold_serving_unscore)
    # "Mark as gold" / "Gold item #N" on a decided item's page (leads).
    registry.register_hook("queue.item_actions", gold_views.item_actions)
    registry.register_tool(
        key="quality-gold",
        label=_("Gold items"),
        url_name="quality:gold-list",
        roles={roles.LEAD, roles.ENGINEER, roles.COMMITTEE},
        order=40,
    )
    # --- end gold ---
