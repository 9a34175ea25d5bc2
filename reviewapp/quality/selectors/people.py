"""Reads of the people part: a reviewer's notices on the queue page, a pool's members with
their state, the open alerts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from reviewapp.core.roles import LEAD, has_role
from reviewapp.models import MLModel, PoolMembership

from ..models import QualityAlert
from ..services.guidelines import current_guideline
from ..services.people_common import OPEN_COUNT_KEY, OPEN_COUNT_SECONDS, lead_names
from ..services.qualification import Progress, progress


def reviewer_notices(*, user: Any) -> list[dict[str, str]]:
    """The queue's ``queue.reviewer_notices`` hook: why a pool gives ``user`` no live items."""
    if not getattr(user, "is_authenticated", False):
        return []
    rows = (
        PoolMembership.objects.filter(user=user)
        .filter(Q(paused_at__isnull=False) | Q(qualifying=True) | Q(guideline_pending=True))
        .select_related("model")
        .order_by("model__slug")
    )
    notices: list[dict[str, str]] = []
    leads = None
    for m in rows:
        slug = m.model.slug
        if m.paused_at:
            leads = leads if leads is not None else ", ".join(lead_names()) or _("a lead")
            notices.append({
                "kind": "paused",
                "text": _("A lead paused your reviewing for %(model)s: %(reason)s. Ask %(leads)s.")
                % {"model": slug, "reason": m.pause_reason, "leads": leads},
                "link": "",
                "link_text": "",
            })  # fmt: skip
            continue
        if m.guideline_pending:
            version = current_guideline(m.model_id)
            notices.append({
                "kind": "guideline",
                "text": _("The %(model)s guideline changed (v%(v)s).")
                % {"model": slug, "v": version.version if version else "?"},
                "link": reverse("quality:guideline", args=[slug]),
                "link_text": _("Read it to get its items"),
            })  # fmt: skip
        if m.qualifying:
            p = progress(model_id=m.model_id, user_id=user.pk)
            notices.append({
                "kind": "qualifying",
                "text": _("You are qualifying for %(model)s: %(done)s of %(total)s done.")
                % {"model": slug, "done": p.done, "total": p.total},
                "link": "",
                "link_text": "",
            })  # fmt: skip
    return notices


@dataclass(frozen=True)
class MemberRow:
    membership: PoolMembership
    state: str  # live, paused, qualifying, guideline
    progress: Progress | None


def pool_members(*, model: MLModel) -> list[MemberRow]:
    rows = []
    members = (
        PoolMembership.objects.filter(model=model)
        .select_related("user", "paused_by", "added_by")
        .order_by("user__username")
    )
    for m in members:
        if m.paused_at:
            state = "paused"
        elif m.qualifying:
            state = "qualifying"
        elif m.guideline_pending:
            state = "guideline"
        else:
            state = "live"
        rows.append(
            MemberRow(
                membership=m,
                state=state,
                progress=progress(model_id=model.pk, user_id=m.user_id) if m.qualifying else None,
            )
        )
    return rows


def open_alerts() -> QuerySet[QualityAlert]:
    return (
        QualityAlert.objects.filter(status=QualityAlert.Status.OPEN)
        .select_related("reviewer", "model")
        .order_by("-raised_at", "-id")
    )


def open_alert_count(user: Any) -> int:
    """The leads' nav counter, cached like the escalations' (every page renders it); raising
    and resolving forget it."""
    if not has_role(user, LEAD):
        return 0
    n = cache.get(OPEN_COUNT_KEY)
    if n is None:
        n = QualityAlert.objects.filter(status=QualityAlert.Status.OPEN).count()
        cache.set(OPEN_COUNT_KEY, n, OPEN_COUNT_SECONDS)
    return n
