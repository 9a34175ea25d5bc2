"""Reads for the fail-safe pages: each model's mode, its history, the preview of a switch,
and the banners other apps' pages show while a model is contained or halted."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from reviewapp.core import clock, roles
from reviewapp.governance.rules import (
    MODEL_CONTAINED,
    MODEL_HALTED,
    NO_POLICY_SLA_MINUTES,
)
from reviewapp.governance.selectors import active_policies
from reviewapp.models import (
    Decision,
    MLModel,
    Mode,
    ModelMode,
    PoolMembership,
    Prediction,
    Purpose,
    ReviewItem,
)
from reviewapp.models.review import OPEN_STATUSES
from reviewapp.selectors.visibility import models_visible_to, visible_model_ids

from .models import Alert, ModeChange

# Who opens the fail-safe pages (reviewers read only their pools' models).
READERS = (roles.LEAD, roles.ENGINEER, roles.COMMITTEE, roles.REVIEWER)
HISTORY_LIMIT = 200
# Review items that count as review volume caused by routing under a mode.
_VOLUME_PURPOSES = (Purpose.ROUTED, Purpose.MODE_SAMPLE)


# --- modes ------------------------------------------------------------------------------------
@dataclass
class ModelState:
    """A model with its mode as the pages show it (``row`` None: normal, never switched)."""

    model: MLModel
    row: ModelMode | None

    @property
    def mode(self) -> str:
        return self.row.mode if self.row is not None else Mode.NORMAL

    @property
    def stopped(self) -> bool:
        return self.mode != Mode.NORMAL

    @property
    def set_by_label(self) -> str:
        if self.row is None:
            return ""
        if self.row.set_by_id is not None:
            return self.row.set_by.get_username()
        if self.row.set_by_monitor:
            return _("monitor %(name)s") % {"name": self.row.set_by_monitor}
        return ""

    def review_overdue(self, now: dt.datetime) -> bool:
        return bool(self.stopped and self.row.review_by and self.row.review_by <= now)


def models_with_modes(user: Any) -> list[ModelState]:
    """Every model the user may read, with its mode row (two queries)."""
    models = list(models_visible_to(user).order_by("slug"))
    rows = {
        r.model_id: r
        for r in ModelMode.objects.filter(model__in=[m.pk for m in models]).select_related(
            "set_by", "owner"
        )
    }
    return [ModelState(model=m, row=rows.get(m.pk)) for m in models]


def model_state(user: Any, slug: str) -> ModelState | None:
    """The model if the user may read it (None otherwise: the page answers 404)."""
    model = models_visible_to(user).filter(slug=slug).first()
    if model is None:
        return None
    row = ModelMode.objects.filter(model=model).select_related("set_by", "owner").first()
    return ModelState(model=model, row=row)


def visible_model_with_mode(user: Any, slug: str) -> MLModel | None:
    """The model (its ``mode_row`` joined, absent when never switched) if the user may read
    it: one query (the visibility of leads, engineers and the committee needs none)."""
    visible = visible_model_ids(user)
    qs = MLModel.objects.filter(slug=slug).select_related("mode_row")
    if visible is not None:
        qs = qs.filter(pk__in=visible)
    return qs.first()


def mode_history(model: MLModel, limit: int = HISTORY_LIMIT) -> QuerySet[ModeChange]:
    """The model's mode changes, newest first."""
    return (
        ModeChange.objects.filter(model=model)
        .select_related("actor", "owner", "alert")
        .order_by("-created_at", "-id")[:limit]
    )


def default_sample_rate() -> float:
    return settings.FAILSAFE_HALTED_SAMPLE_RATE


def alert_path(alert_id: int) -> str:
    """The alert's page. The alerts pages are another part's; until their URL exists the
    path is built from the id (it is the path they are mounted at)."""
    try:
        return reverse("failsafe:alert", args=[alert_id])
    except NoReverseMatch:
        return f"/failsafe/alerts/{int(alert_id)}/"


def blocking_alert(model: MLModel) -> Alert | None:
    """The open alert of the monitor that stopped the model (lifting waits for its
    acknowledgement), if any."""
    row = ModelMode.objects.filter(model=model).first()
    if row is None or row.alert_id is None:
        return None
    return Alert.objects.filter(pk=row.alert_id, state=Alert.State.OPEN).first()


# --- banners ----------------------------------------------------------------------------------
def _since_text(when: dt.datetime, now: dt.datetime) -> str:
    local = timezone.localtime(when)
    if local.date() == timezone.localtime(now).date():
        return local.strftime("%H:%M %Z")
    return local.strftime("%Y-%m-%d %H:%M %Z")


def model_banners(*, model_slugs: list[str]) -> list[dict[str, Any]]:
    """core.model_banners: one banner per contained or halted model among ``model_slugs``
    (one query)."""
    if not model_slugs:
        return []
    now = clock.now()
    rows = (
        ModelMode.objects.filter(model__slug__in=model_slugs)
        .exclude(mode=Mode.NORMAL)
        .select_related("model", "set_by")
        .order_by("model__slug")
    )
    banners = []
    for row in rows:
        state = ModelState(model=row.model, row=row)
        values = {
            "name": row.model.name or row.model.slug,
            "since": _since_text(row.since, now),
            "who": state.set_by_label or _("the system"),
            # The sentence adds its own full stop: "…mapped.. Every prediction" read badly.
            "reason": row.reason.rstrip().rstrip(".").rstrip() or row.reason,
        }
        if row.mode == Mode.CONTAINED:
            title = _("%(name)s is CONTAINED") % values
            text = (
                _(
                    "since %(since)s by %(who)s: %(reason)s. Every prediction is reviewed; "
                    "producers serve the fallback."
                )
                % values
            )
            tone = "amber"
        else:
            values["share"] = f"{row.sample_rate * 100:g} %"
            title = _("%(name)s is HALTED") % values
            text = (
                _(
                    "since %(since)s by %(who)s: %(reason)s. The model's output is not used: "
                    "producers serve the fallback; %(share)s of its predictions are sampled "
                    "for review."
                )
                % values
            )
            tone = "red"
        banners.append(
            {
                "tone": tone,
                "title": title,
                "text": text,
                "link": reverse("failsafe:model", args=[row.model.slug]),
                "link_label": _("Fail-safe page"),
                "model_slug": row.model.slug,
                "mode": row.mode,
                "at": row.since,
            }
        )
    return banners


# --- the preview of a switch -------------------------------------------------------------------
@dataclass
class ActiveMember:
    user: Any
    last_hour: int
    last_day: int

    @property
    def per_hour_day(self) -> float:
        return self.last_day / 24


@dataclass
class Preview:
    """What a switch to ``mode`` would do at the current traffic (see docs/failsafe.md,
    "Pages")."""

    mode: str
    sample_rate: float
    received_last_hour: int
    review_now_per_hour: int
    review_after_per_hour: float
    open_queue: int
    sla_minutes: int
    members: list[ActiveMember] = field(default_factory=list)
    # Hours from now until a newly arriving item would wait past its SLA; None: never at this
    # throughput.
    breach_in_hours: float | None = None
    breach_at: dt.datetime | None = None
    # False for a lift: the normal volume is estimated from the reasons the policy gave.
    exact: bool = True

    @property
    def extra_per_hour(self) -> float:
        return self.review_after_per_hour - self.review_now_per_hour

    @property
    def capacity_per_hour(self) -> int:
        return sum(m.last_hour for m in self.members)

    @property
    def fewer_per_hour(self) -> float:
        return -self.extra_per_hour

    @property
    def backlog_seconds(self) -> float | None:
        """How long the open queue alone takes to clear at the active reviewers' pace."""
        if not self.capacity_per_hour:
            return None
        return self.open_queue / self.capacity_per_hour * 3600

    @property
    def breach_seconds(self) -> float | None:
        return None if self.breach_in_hours is None else self.breach_in_hours * 3600

    @property
    def sample_percent(self) -> str:
        return f"{self.sample_rate * 100:g} %"

    @property
    def breaches_now(self) -> bool:
        return self.breach_in_hours is not None and self.breach_in_hours <= 0


def sla_minutes_of(model: MLModel) -> int:
    """The SLA a contained model's items get: the active policy's for the model's tier (the
    no-policy default otherwise), as routing's ``_routed_with`` sets it."""
    policy = active_policies([model.slug]).get(model.slug)
    tier = model.criticality if model.criticality in NO_POLICY_SLA_MINUTES else "high"
    if policy is not None:
        table = policy.rules.get("sla_minutes")
        if isinstance(table, dict) and isinstance(table.get(tier), int | float):
            return int(table[tier])
    return NO_POLICY_SLA_MINUTES[tier]


def _normal_volume(predictions: QuerySet[Prediction]) -> int:
    """How many of ``predictions`` the policy alone routed (or would have routed): routed
    under normal mode, a contained one with a reason besides ``model_contained``, a halted one
    whose policy reasons were kept in its details. A contained model's QA samples are not
    recoverable (the QA reason was dropped), so this is a floor."""
    routed = 0
    for mode, was_routed, reasons, details in predictions.values_list(
        "routing_mode", "routed", "reason_codes", "reason_details"
    ):
        if mode == Mode.CONTAINED:
            routed += any(r != MODEL_CONTAINED for r in reasons or [])
        elif mode == Mode.HALTED or MODEL_HALTED in (reasons or []):
            routed += bool((details or {}).get("policy_reasons"))
        else:
            routed += bool(was_routed)
    return routed


def switch_preview(
    *, model: MLModel, mode: str, sample_rate: float | None = None, now: dt.datetime | None = None
) -> Preview:
    """The figures a lead reads before switching ``model`` to ``mode``, from the last hour.

    - review volume now: review items (routed or mode samples) made for predictions received
      in the last hour; after: contained = every prediction received, halted = the sampled
      share of them, normal = what the policy alone routed (:func:`_normal_volume`);
    - active pool members: in the model's pool and claimed or decided one of its items in the
      last hour, with their decisions on it in the last hour and the last day;
    - the SLA breach: open items plus the new volume against the members' last-hour
      throughput, first-in first-out; a new item breaches once the backlog takes longer than
      the SLA to clear.
    """
    now = now or clock.now()
    hour_ago, day_ago = now - dt.timedelta(hours=1), now - dt.timedelta(days=1)
    if sample_rate is None:
        sample_rate = settings.FAILSAFE_HALTED_SAMPLE_RATE if mode == Mode.HALTED else 0.0
    recent = Prediction.objects.filter(model=model, received_at__gte=hour_ago, received_at__lt=now)
    received = recent.count()
    review_now = ReviewItem.objects.filter(
        prediction__in=recent, purpose__in=_VOLUME_PURPOSES
    ).count()
    if mode == Mode.CONTAINED:
        after: float = received
    elif mode == Mode.HALTED:
        after = received * sample_rate
    else:
        after = _normal_volume(recent)
    open_items = ReviewItem.objects.filter(model=model, status__in=OPEN_STATUSES)
    open_queue = open_items.count()
    first_due = open_items.order_by("sla_due_at").values_list("sla_due_at", flat=True).first()
    members = _active_members(model=model, hour_ago=hour_ago, day_ago=day_ago, now=now)
    preview = Preview(
        mode=mode,
        sample_rate=sample_rate,
        received_last_hour=received,
        review_now_per_hour=review_now,
        review_after_per_hour=after,
        open_queue=open_queue,
        sla_minutes=sla_minutes_of(model),
        members=members,
        exact=mode != Mode.NORMAL,
    )
    preview.breach_in_hours = breach_in_hours(
        open_queue=open_queue,
        inflow_per_hour=after,
        capacity_per_hour=preview.capacity_per_hour,
        sla_hours=preview.sla_minutes / 60,
        first_due_in_hours=(first_due - now).total_seconds() / 3600 if first_due else None,
    )
    if preview.breach_in_hours is not None:
        preview.breach_at = now + dt.timedelta(hours=max(0.0, preview.breach_in_hours))
    return preview


def breach_in_hours(
    *,
    open_queue: int,
    inflow_per_hour: float,
    capacity_per_hour: float,
    sla_hours: float,
    first_due_in_hours: float | None = None,
) -> float | None:
    """Hours until an arriving item would wait longer than the SLA (0: already), None when
    the capacity keeps every wait within it.

    The backlog at ``t`` is ``open + (inflow - capacity) * t``; an item arriving then waits
    ``backlog / capacity``. With no capacity nothing is decided: the open item due first
    breaches at its deadline (``first_due_in_hours``), or the first new item one SLA after it
    arrives.
    """
    if capacity_per_hour <= 0:
        if open_queue > 0 and first_due_in_hours is not None:
            return max(0.0, first_due_in_hours)
        return sla_hours if inflow_per_hour > 0 or open_queue > 0 else None
    if open_queue / capacity_per_hour >= sla_hours:
        return 0.0
    growth = inflow_per_hour - capacity_per_hour
    if growth <= 0:
        return None
    return (sla_hours * capacity_per_hour - open_queue) / growth


def _active_members(
    *, model: MLModel, hour_ago: dt.datetime, day_ago: dt.datetime, now: dt.datetime
) -> list[ActiveMember]:
    pool = PoolMembership.objects.filter(model=model).values_list("user_id", flat=True)
    claimed = set(
        ReviewItem.objects.filter(
            model=model, claimed_by__in=pool, claimed_at__gte=hour_ago, claimed_at__lt=now
        ).values_list("claimed_by_id", flat=True)
    )
    counts = (
        Decision.objects.filter(
            model=model,
            reviewer__in=pool,
            decided_at__gte=day_ago,
            decided_at__lt=now,
            undone_at__isnull=True,
        )
        .values("reviewer")
        .annotate(
            day=Count("id"),
            hour=Count("id", filter=Q(decided_at__gte=hour_ago)),
        )
    )
    by_user = {row["reviewer"]: (row["hour"], row["day"]) for row in counts}
    active = claimed | {uid for uid, (hour, _day) in by_user.items() if hour}
    if not active:
        return []
    users = get_user_model().objects.filter(pk__in=active).order_by("username")
    members = []
    for user in users:
        hour, day = by_user.get(user.pk, (0, 0))
        members.append(ActiveMember(user=user, last_hour=hour, last_day=day))
    return members
