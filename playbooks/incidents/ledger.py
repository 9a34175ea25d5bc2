"""Affected predictions: what the incident's models let through while they were failing, and
their re-review.

*Affected* means auto-accepted (status ``passed``: routing let the model's output stand; a
halted model's predictions are ``fallback`` and were never served, a routed one went to a
person) and received between the impact start (the detection when unknown) and the
containment (now while not contained). Their re-review is a review item of purpose
``incident_recheck`` per prediction (at most one per prediction, whichever incident asked
first; a later incident links the same item), listed under the incident as ``IncidentItem``
rows of kind ``recheck``.

``affected_summary`` is what other parts of an incident read (the post-mortem's impact, the
communications, the metrics' "predictions served wrongly" = overturned).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from reviewapp.core import clock
from reviewapp.core.exceptions import PermissionDenied, ServiceError
from reviewapp.governance.rules import TIER_PRIORITY
from reviewapp.models import Decision, MLModel, Prediction, Purpose, ReviewItem
from reviewapp.selectors.purposes import HALTED, correction_q
from reviewapp.selectors.visibility import predictions_visible_to

from ..models import Incident, IncidentItem
from .selectors import may_run
from .services import record

MODES = ("all", "sample")
CHUNK = 500  # predictions per audit event
EXAMPLES = 10


# -- reads ----------------------------------------------------------------------------------


def window(
    incident: Incident, *, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The affected period: impact start (or detection) to containment (or now)."""
    start = incident.impact_started_at or incident.detected_at
    end = incident.contained_at or now or clock.now()
    return start, max(start, end)


def affected_predictions(incident: Incident, *, now: dt.datetime | None = None) -> QuerySet:
    """Every affected prediction of the incident's models (no visibility applied: callers
    that show rows to a person go through :func:`affected_examples`)."""
    start, end = window(incident, now=now)
    # The ids as values, not a subquery: PostgreSQL then reads the window from the
    # (model, received_at) index instead of scanning the model's whole history.
    model_ids = list(incident.model_links.values_list("model_id", flat=True))
    return Prediction.objects.filter(
        model_id__in=model_ids,
        status=Prediction.Status.PASSED,
        received_at__gte=start,
        received_at__lte=end,
    ).exclude(routing_mode=HALTED)


def affected_per_day(incident: Incident, *, now: dt.datetime | None = None) -> list[dict]:
    """[{"day": date (UTC), "model": slug, "count": n}] oldest first: one grouped query."""
    rows = (
        affected_predictions(incident, now=now)
        .annotate(day=TruncDate("received_at", tzinfo=dt.UTC))
        .values("day", "model__slug")
        .annotate(count=Count("id"))
        .order_by("day", "model__slug")
    )
    return [{"day": r["day"], "model": r["model__slug"], "count": r["count"]} for r in rows]


def affected_examples(
    incident: Incident, user: Any, *, now: dt.datetime | None = None, limit: int = EXAMPLES
) -> list[Prediction]:
    """The newest affected predictions ``user`` may read (a reviewer: their pools' only)."""
    qs = predictions_visible_to(user, affected_predictions(incident, now=now))
    return list(qs.select_related("model").order_by("-received_at", "-id")[:limit])


def recheck_items(incident: Incident) -> QuerySet[ReviewItem]:
    """The review items this incident queued or linked for re-review."""
    return ReviewItem.objects.filter(
        pk__in=IncidentItem.objects.filter(
            incident=incident, kind=IncidentItem.Kind.RECHECK
        ).values("review_item_id")
    )


def recheck_progress(incident: Incident) -> dict[str, int]:
    """queued, re-reviewed (a final decision stands), overturned (that decision corrects what
    the model said: ``purposes.correction_q``) and pending: one query."""
    final = Decision.objects.filter(
        item=OuterRef("pk"), action__in=Decision.FINAL_ACTIONS, undone_at__isnull=True
    )
    counts = recheck_items(incident).aggregate(
        queued=Count("pk"),
        rereviewed=Count("pk", filter=Q(Exists(final))),
        overturned=Count("pk", filter=Q(Exists(final.filter(correction_q())))),
    )
    counts["pending"] = counts["queued"] - counts["rereviewed"]
    return counts


def affected_summary(incident: Incident, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """{"window": {"start", "end", "contained"}, "total", "per_day": [...], "queued",
    "rereviewed", "overturned", "pending"}: the figures other parts of an incident quote."""
    start, end = window(incident, now=now)
    per_day = affected_per_day(incident, now=now)
    return {
        "window": {"start": start, "end": end, "contained": incident.contained_at is not None},
        "total": sum(r["count"] for r in per_day),
        "per_day": per_day,
        **recheck_progress(incident),
    }


def open_rechecks(incident: Incident) -> int:
    return recheck_items(incident).exclude(status=ReviewItem.Status.DECIDED).count()


# -- the re-review --------------------------------------------------------------------------


@transaction.atomic
def incident_recheck_queue(
    *, incident: Incident, actor: Any, mode: str, size: Any = None
) -> dict[str, int]:
    """Queue the affected predictions for re-review: ``all`` of them, or a random ``sample``
    of ``size``. Those already queued for this incident are left out; a prediction another
    incident already queued is linked to its item, not given a second one. At most
    ``INCIDENT_RECHECK_MAX`` at once (a 400 says to take a sample). Set-based: a few queries
    whatever the size, one audit event per chunk of predictions.

    Returns {"affected", "queued" (new items), "linked" (existing items now listed here),
    "already" (this incident had them), "total" (this incident's re-review items)}."""
    if not may_run(actor, incident):
        raise PermissionDenied(_("Only engineers, leads and this incident's commander run it."))
    limit = int(settings.INCIDENT_RECHECK_MAX)
    errors: dict[str, list[str]] = {}
    if mode not in MODES:
        errors["mode"] = [_("Must be one of %s.") % ", ".join(MODES)]
    wanted = 0
    if mode == "sample":
        if isinstance(size, bool) or not isinstance(size, int | str):
            errors["size"] = [_("Must be a whole number.")]
        else:
            try:
                wanted = int(size)
            except ValueError:
                errors["size"] = [_("Must be a whole number.")]
            else:
                if not 1 <= wanted <= limit:
                    errors["size"] = [_("Between 1 and %d.") % limit]
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    # One queueing at a time per incident: two clicks never race for the same sample.
    Incident.objects.select_for_update().filter(pk=incident.pk).first()
    affected = affected_predictions(incident)
    mine = IncidentItem.objects.filter(
        incident=incident, kind=IncidentItem.Kind.RECHECK, review_item__prediction=OuterRef("pk")
    )
    candidates = affected.exclude(Exists(mine))
    total_affected = affected.count()
    already = total_affected - candidates.count()
    if mode == "all":
        ids = list(candidates.order_by("id").values_list("id", flat=True)[: limit + 1])
        if len(ids) > limit:
            raise ServiceError(
                _("More than %d predictions are left to re-review: queue a sample.") % limit,
                errors={"mode": [_("Too many for “all”: at most %d at once.") % limit]},
            )
    else:
        ids = sorted(candidates.order_by("?").values_list("id", flat=True)[:wanted])
    now = clock.now()
    created, linked = _queue(incident, ids, now=now)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        record(
            incident,
            "playbooks.incident.recheck_queued",
            actor,
            data={
                "mode": mode,
                **({"size": wanted} if mode == "sample" else {}),
                "predictions": chunk,
                "queued": sorted(set(chunk) & created),
                "linked": sorted(set(chunk) & linked),
            },
            subjects={"reviewapp.prediction": chunk},
        )
    return {
        "affected": total_affected,
        "queued": len(created),
        "linked": len(linked),
        "already": already,
        "total": recheck_items(incident).count(),
    }


def _queue(incident: Incident, ids: list[int], *, now: dt.datetime) -> tuple[set[int], set[int]]:
    """Create the missing recheck items and list every one under the incident: (prediction
    ids given a new item, prediction ids whose existing item was linked)."""
    if not ids:
        return set(), set()
    existing = set(
        ReviewItem.objects.filter(
            prediction_id__in=ids, purpose=Purpose.INCIDENT_RECHECK
        ).values_list("prediction_id", flat=True)
    )
    fresh = [pk for pk in ids if pk not in existing]
    if fresh:
        model_of = dict(Prediction.objects.filter(pk__in=fresh).values_list("id", "model_id"))
        tiers = dict(
            MLModel.objects.filter(pk__in=set(model_of.values())).values_list("id", "criticality")
        )
        due = now + dt.timedelta(minutes=int(settings.INCIDENT_RECHECK_SLA_MINUTES))
        ReviewItem.objects.bulk_create(
            [
                ReviewItem(
                    prediction_id=pk,
                    model_id=model_of[pk],
                    purpose=Purpose.INCIDENT_RECHECK,
                    priority=TIER_PRIORITY.get(tiers[model_of[pk]], TIER_PRIORITY["high"]),
                    sla_due_at=due,
                    created_at=now,
                    updated_at=now,
                )  # fmt: skip
                for pk in fresh
            ],
            batch_size=CHUNK,
            ignore_conflicts=True,  # another incident queued one meanwhile: the key keeps one
        )
    items = dict(
        ReviewItem.objects.filter(
            prediction_id__in=ids, purpose=Purpose.INCIDENT_RECHECK
        ).values_list("prediction_id", "id")
    )
    IncidentItem.objects.bulk_create(
        [
            IncidentItem(
                incident=incident,
                review_item_id=items[pk],
                kind=IncidentItem.Kind.RECHECK,
                added_at=now,
            )
            for pk in ids
            if pk in items
        ],
        batch_size=CHUNK,
        ignore_conflicts=True,
    )
    return set(fresh), existing


# -- the lifecycle guard --------------------------------------------------------------------


def recheck_guard(*, event: str, incident: Incident, reason: str = "") -> dict | None:
    """No verification while a re-review this incident asked for is still open."""
    if event != "verify":
        return None
    n = open_rechecks(incident)
    if not n:
        return None
    return {
        "rechecks": [
            ngettext(
                "%(n)d re-review item is still open: verify once it is decided.",
                "%(n)d re-review items are still open: verify once they are decided.",
                n,
            )
            % {"n": n}
        ]
    }
