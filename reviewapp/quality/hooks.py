"""What the quality app registers with core from ``ready()``: audit verbs, notification kinds,
nav entries, and its handlers of the queue's hooks."""

from __future__ import annotations


def register() -> None:
    from django.utils.translation import gettext_lazy as _

    from reviewapp.core import registry
    from reviewapp.core.roles import COMMITTEE, ENGINEER, LEAD, REVIEWER
    from reviewapp.delivery.selectors import LABEL_ANNOTATIONS_HOOK
    from reviewapp.models import Purpose
    from reviewapp.services.decisions import DECISION_RECORDED_HOOK, DECISION_UNDONE_HOOK
    from reviewapp.services.pools import GUIDELINE_PUBLISHED_HOOK, POOL_MEMBER_ADDED_HOOK

    from . import verbs
    from .selectors import labels
    from .selectors import people as people_selectors
    from .services import gold, on_decision, people_common, second_review
    from .services import guidelines as people_guidelines
    from .services import qualification as people_qualification
    from .views import gold as gold_views

    verbs.register_audit_verbs()
    second_review.register_notification_kinds()
    people_common.register_notification_kinds()

    # Every decision, in its transaction, dispatched by the item's purpose.
    registry.register_hook(DECISION_RECORDED_HOOK, on_decision.decision_recorded)
    registry.register_hook(DECISION_UNDONE_HOOK, on_decision.decision_undone)
    # Gold scoring first: the qualification gate (after it) reads the scores.
    for purpose in (Purpose.GOLD, Purpose.QUALIFICATION):
        on_decision.on_decided(purpose, gold.gold_serving_score)
        on_decision.on_undone(purpose, gold.gold_serving_unscore)
    on_decision.on_decided("qualification", people_qualification.qualification_decided)
    on_decision.on_undone("qualification", people_qualification.qualification_undone)
    # Blind second review: requested on a routed decision, compared on the second one.
    on_decision.on_decided("routed", second_review.maybe_request)
    on_decision.on_undone("routed", second_review.first_undone)
    on_decision.on_decided("second_review", second_review.compare)
    on_decision.on_undone("second_review", second_review.second_undone)

    # The queue's own hooks: pool members, guidelines, the queue page's notices, item actions.
    registry.register_hook(POOL_MEMBER_ADDED_HOOK, people_qualification.member_added)
    registry.register_hook(GUIDELINE_PUBLISHED_HOOK, people_guidelines.guideline_published)
    # reviewapp/views/queue.py REVIEWER_NOTICES_HOOK (named here to keep views out of ready()).
    registry.register_hook("queue.reviewer_notices", people_selectors.reviewer_notices)
    # "Mark as gold" / "Gold item #N" on a decided item's page (leads).
    registry.register_hook("queue.item_actions", gold_views.item_actions)
    # The trust columns of exported and fed labels (delivery asks per batch).
    registry.register_hook(LABEL_ANNOTATIONS_HOOK, labels.label_annotations)

    # Navigation.
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
    registry.register_tool(
        key="quality-gold",
        label=_("Gold items"),
        url_name="quality:gold-list",
        roles={LEAD, ENGINEER, COMMITTEE},
        order=40,
    )
    registry.register_nav_counter(
        key="adjudication",
        label=_("Adjudication"),
        url_name="quality:adjudications",
        roles={LEAD},
        count=second_review.adjudication_count,
        order=12,
        quiet=True,
    )
    registry.register_nav_counter(
        key="quality-alerts",
        label=_("Quality alerts"),
        url_name="quality:alerts",
        roles={LEAD},
        count=people_selectors.open_alert_count,
        order=15,
        quiet=True,
    )
