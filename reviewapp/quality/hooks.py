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
    # Gold scoring first: the qualification gate (people, below) reads the scores.
    from reviewapp.models import Purpose

    from .services import gold

    for purpose in (Purpose.GOLD, Purpose.QUALIFICATION):
        on_decision.on_decided(purpose, gold.gold_serving_score)
        on_decision.on_undone(purpose, gold.gold_serving_unscore)
    # --- scorecards ---
    from django.utils.translation import gettext_lazy as _

    from reviewapp.core.roles import COMMITTEE, ENGINEER, LEAD, REVIEWER

    registry.register_nav_section(
        key="quality",
        label=_("Quality"),
        url_name="quality:overview",
        roles={LEAD, ENGINEER, COMMITTEE},
        order=35,
    )
    registry.register_tool(
        key="my-scorecard",
        label=_("My scorecard"),
        url_name="quality:my-scorecard",
        roles={REVIEWER},
        order=6,
    )
    # --- double: blind second review and adjudication ---
    from django.utils.translation import gettext_lazy

    from reviewapp.core import roles

    from .services import second_review

    on_decision.on_decided("routed", second_review.maybe_request)
    on_decision.on_undone("routed", second_review.first_undone)
    on_decision.on_decided("second_review", second_review.compare)
    on_decision.on_undone("second_review", second_review.second_undone)
    second_review.register_notification_kinds()
    registry.register_nav_counter(
        key="adjudication",
        label=gettext_lazy("Adjudication"),
        url_name="quality:adjudications",
        roles={roles.LEAD},
        count=second_review.adjudication_count,
        order=12,
        quiet=True,
    )
    # --- end double ---
    # labels: the trust columns of exported and fed labels (delivery asks per batch).
    from reviewapp.delivery.selectors import LABEL_ANNOTATIONS_HOOK

    from .selectors import labels

    registry.register_hook(LABEL_ANNOTATIONS_HOOK, labels.label_annotations)
    # --- end labels ---
    # --- people (alerts, pause/resume, qualification, guideline acknowledgement) ---
    from django.utils.translation import gettext_lazy as _

    from reviewapp.core.roles import LEAD
    from reviewapp.services.pools import GUIDELINE_PUBLISHED_HOOK, POOL_MEMBER_ADDED_HOOK

    from .selectors import people as people_selectors
    from .services import guidelines as people_guidelines
    from .services import people_common
    from .services import qualification as people_qualification

    people_common.register_notification_kinds()
    registry.register_hook(POOL_MEMBER_ADDED_HOOK, people_qualification.member_added)
    registry.register_hook(GUIDELINE_PUBLISHED_HOOK, people_guidelines.guideline_published)
    # reviewapp/views/queue.py REVIEWER_NOTICES_HOOK (named here to keep views out of ready()).
    registry.register_hook("queue.reviewer_notices", people_selectors.reviewer_notices)
    # After the gold part's scorer (registered above it): scores only what is still pending.
    on_decision.on_decided("qualification", people_qualification.qualification_decided)
    on_decision.on_undone("qualification", people_qualification.qualification_undone)
    registry.register_nav_counter(
        key="quality-alerts",
        label=_("Quality alerts"),
        url_name="quality:alerts",
        roles={LEAD},
        count=people_selectors.open_alert_count,
        order=15,
        quiet=True,
    )
    # --- end people ---
    # --- gold ---
    from django.utils.translation import gettext_lazy as _

    from reviewapp.core import roles
    from reviewapp.models import Purpose

    from .services import gold
    from .views import gold as gold_views

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
