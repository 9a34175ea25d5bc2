"""Alerts about reviewers (fast accepts against peers, gold accuracy below the bound, a failed
qualification set): raised by the beat task ``quality.check_reviewers`` and the qualification
scorer, told to the leads, resolved by a lead with a note.

One open alert per (reviewer, model, kind): raising again while one is open only refreshes its
figures (no second notification), so a reviewer who stays fast is not reported every 10 minutes.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from reviewapp.core import clock, notifications
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.core.state import Machine, apply, transition
from reviewapp.models import Decision, MLModel
from reviewapp.selectors.purposes import UNCOUNTED

from ..models import GoldServing, QualityAlert
from ..settings import quality_settings
from .people_common import REVIEWER_ALERT, lead_ids, open_count_forget, require_lead

K = QualityAlert.Kind
NOTE_MAX = 500
SYSTEM = Actor.system("quality")

ALERT = Machine(
    model=QualityAlert,
    events={"resolve": transition(QualityAlert.Status.OPEN, QualityAlert.Status.RESOLVED,
                                  "quality.alert.resolved")},
    snapshot={"status": "status", "resolved_by": "resolved_by_id", "resolution": "resolution"},
)  # fmt: skip


def window_hours() -> float:
    return float(getattr(settings, "QUALITY_ALERT_WINDOW_HOURS", 24))


def min_decisions() -> int:
    return int(getattr(settings, "QUALITY_ALERT_MIN_DECISIONS", 20))


def min_gold() -> int:
    return int(getattr(settings, "QUALITY_ALERT_MIN_GOLD", 5))


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min"


# --- the rules (pure over the rows read) --------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """One reviewer's decisions on one model in the window."""

    accept_seconds: list[float]
    decided: int  # accept + override + escalate (a defer is not a decision about the label)

    @property
    def accepts(self) -> int:
        return len(self.accept_seconds)

    @property
    def accept_share(self) -> float:
        return self.accepts / self.decided if self.decided else 0.0


def fast_accept_check(
    mine: Timing, peers: list[Timing], *, ratio: float, minimum: int
) -> dict[str, Any] | None:
    """The figures of a fast-accept alert, or None: the reviewer's median seconds per accepted
    item below ``ratio`` × the peers' pooled median, with at least ``minimum`` accepts on each
    side, and an accept share at least the peers'."""
    peer_seconds = [s for p in peers for s in p.accept_seconds]
    peer_decided = sum(p.decided for p in peers)
    if mine.accepts < minimum or len(peer_seconds) < minimum or not peer_decided:
        return None
    my_median = statistics.median(mine.accept_seconds)
    peer_median = statistics.median(peer_seconds)
    peer_share = len(peer_seconds) / peer_decided
    if my_median < ratio * peer_median and mine.accept_share >= peer_share:
        return {
            "accepts": mine.accepts,
            "median_seconds": round(my_median, 1),
            "peer_median_seconds": round(peer_median, 1),
            "peer_accepts": len(peer_seconds),
            "accept_share": round(mine.accept_share, 3),
            "peer_accept_share": round(peer_share, 3),
            "ratio": ratio,
        }
    return None


def gold_accuracy_check(
    correct: int, wrong: int, *, bound: float, minimum: int
) -> dict[str, Any] | None:
    scored = correct + wrong
    if scored < minimum or scored == 0:
        return None
    accuracy = correct / scored
    if accuracy < bound:
        return {"correct": correct, "wrong": wrong, "accuracy": round(accuracy, 3), "bound": bound}
    return None


def alert_words(kind: str, *, username: str, model_slug: str, figures: dict[str, Any]) -> str:
    """The figures in words, as the leads read them in the notification and on the page."""
    if kind == K.FAST_ACCEPT:
        return _(
            "%(user)s accepted %(n)s items on %(model)s in a median %(mine)s; peers take %(peers)s"
        ) % {
            "user": username,
            "n": figures["accepts"],
            "model": model_slug,
            "mine": _seconds(figures["median_seconds"]),
            "peers": _seconds(figures["peer_median_seconds"]),
        }
    if kind == K.GOLD_ACCURACY:
        return _(
            "%(user)s got %(c)s of %(n)s gold items right on %(model)s (%(pct)s%%; bound %(b)s%%)"
        ) % {
            "user": username,
            "c": figures["correct"],
            "n": figures["correct"] + figures["wrong"],
            "model": model_slug,
            "pct": round(100 * figures["accuracy"]),
            "b": round(100 * figures["bound"]),
        }
    return _(
        "%(user)s did not pass qualification on %(model)s: %(c)s of %(n)s right (%(pct)s%%; "
        "pass %(b)s%%)"
    ) % {
        "user": username,
        "model": model_slug,
        "c": figures["correct"],
        "n": figures["total"],
        "pct": round(100 * figures["accuracy"]),
        "b": round(100 * figures["bound"]),
    }


# --- writes -------------------------------------------------------------------------------
def alert_raise(
    *, kind: str, reviewer: Any, model: MLModel, figures: dict[str, Any], actor: Actor = SYSTEM
) -> tuple[QualityAlert, bool]:
    """Open an alert (and tell the leads), or refresh the figures of the open one.
    Returns the alert and whether it is new."""
    text = alert_words(kind, username=reviewer.get_username(), model_slug=model.slug,
                       figures=figures)  # fmt: skip
    figures = {**figures, "text": text, "measured_at": clock.now().isoformat()}
    with transaction.atomic():
        open_alert = (
            QualityAlert.objects.select_for_update()
            .filter(kind=kind, reviewer=reviewer, model=model, status=QualityAlert.Status.OPEN)
            .first()
        )
        if open_alert is not None:
            open_alert.figures = figures
            open_alert.save(update_fields=["figures"])
            return open_alert, False
        alert = QualityAlert.objects.create(
            kind=kind, reviewer=reviewer, model=model, figures=figures, raised_at=clock.now()
        )
        audit_record(
            actor=actor,
            verb="quality.alert.raised",
            target=alert,
            data={"kind": kind, "reviewer": reviewer.pk, "model": model.slug, "figures": figures},
            subjects={"auth.user": [reviewer.pk]},
        )
        open_count_forget()
        notifications.notify(
            recipients=lead_ids(),
            kind=REVIEWER_ALERT,
            title=text[:200],
            body=str(QualityAlert.Kind(kind).label),
            link=reverse("quality:alerts"),
            actor=actor,
        )
    return alert, True


def alert_resolve(*, alert_id: int, note: str, by: Any) -> QualityAlert:
    require_lead(by)
    note = (note or "").strip()
    if not note:
        raise ServiceError(
            _("Say what was done."), errors={"note": [_("Write a note: what you found or did.")]}
        )
    if len(note) > NOTE_MAX:
        raise ServiceError(
            _("The note is too long."),
            errors={"note": [_("At most %(n)s characters.") % {"n": NOTE_MAX}]},
        )
    with transaction.atomic():
        alert = QualityAlert.objects.filter(pk=alert_id).first()
        if alert is None:
            raise NotFound(_("No such alert."), field="alert_id")
        now = clock.now()
        open_count_forget()
        return apply(
            ALERT,
            instance=alert,
            event="resolve",
            actor=Actor.user(by),
            changes={"resolved_at": now, "resolved_by_id": by.pk, "resolution": note},
            data={"note": note, "reviewer": alert.reviewer_id, "kind": alert.kind},
            now=now,
            invalid_message=_("This alert is already resolved."),
        )


# --- the beat check -----------------------------------------------------------------------
def _timings(since: dt.datetime) -> dict[int, dict[int, Timing]]:
    """model id -> reviewer id -> their timing, over live decisions in the window."""
    seconds: dict[tuple[int, int], list[float]] = defaultdict(list)
    decided: dict[tuple[int, int], int] = defaultdict(int)
    rows = (
        Decision.objects.filter(
            decided_at__gte=since,
            undone_at__isnull=True,
            action__in=[Decision.Action.ACCEPT, Decision.Action.OVERRIDE, Decision.Action.ESCALATE],
        )
        .exclude(item__purpose__in=UNCOUNTED)
        .values_list("model_id", "reviewer_id", "action", "claimed_at", "decided_at")
    )
    for model_id, reviewer_id, action, claimed_at, decided_at in rows.iterator():
        key = (model_id, reviewer_id)
        decided[key] += 1
        if action == Decision.Action.ACCEPT and claimed_at is not None:
            seconds[key].append(max(0.0, (decided_at - claimed_at).total_seconds()))
    out: dict[int, dict[int, Timing]] = defaultdict(dict)
    for (model_id, reviewer_id), n in decided.items():
        out[model_id][reviewer_id] = Timing(seconds.get((model_id, reviewer_id), []), n)
    return out


def _gold_counts(since: dt.datetime) -> dict[tuple[int, int], tuple[int, int]]:
    counts: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    rows = GoldServing.objects.filter(
        qualification=False,
        scored_at__gte=since,
        result__in=[GoldServing.Result.CORRECT, GoldServing.Result.WRONG],
    ).values_list("model_id", "reviewer_id", "result")
    for model_id, reviewer_id, result in rows.iterator():
        counts[(model_id, reviewer_id)][0 if result == GoldServing.Result.CORRECT else 1] += 1
    return {key: (c, w) for key, (c, w) in counts.items()}


def reviewers_check(*, now: dt.datetime | None = None) -> list[QualityAlert]:
    """Every (reviewer, model) over the window; returns the alerts raised anew."""
    from django.contrib.auth import get_user_model

    now = now or clock.now()
    since = now - dt.timedelta(hours=window_hours())
    timings = _timings(since)
    golds = _gold_counts(since)
    model_ids = set(timings) | {m for m, _r in golds}
    models = MLModel.objects.in_bulk(model_ids)
    found: list[tuple[str, int, int, dict[str, Any]]] = []
    for model_id in sorted(model_ids):
        knobs = quality_settings(models[model_id].slug)
        per_reviewer = timings.get(model_id, {})
        for reviewer_id, mine in sorted(per_reviewer.items()):
            peers = [t for r, t in per_reviewer.items() if r != reviewer_id]
            figures = fast_accept_check(
                mine, peers, ratio=knobs["fast_accept_ratio"], minimum=min_decisions()
            )
            if figures:
                found.append((K.FAST_ACCEPT, model_id, reviewer_id, figures))
        for (m, reviewer_id), (correct, wrong) in sorted(golds.items()):
            if m != model_id:
                continue
            figures = gold_accuracy_check(
                correct, wrong, bound=knobs["gold_accuracy_alert"], minimum=min_gold()
            )
            if figures:
                found.append((K.GOLD_ACCURACY, model_id, reviewer_id, figures))
    users = get_user_model()._default_manager.in_bulk({r for _k, _m, r, _f in found})
    raised = []
    for kind, model_id, reviewer_id, figures in found:
        alert, new = alert_raise(
            kind=kind, reviewer=users[reviewer_id], model=models[model_id], figures=figures
        )
        if new:
            raised.append(alert)
    return raised
