"""Remind people of containments and halts past their review-by time.

A containment has an owner and a review-by time (``ModelMode.review_by``); once it has passed,
the owner, the model's owners and the leads are reminded, at most once per
``FAILSAFE_REMINDER_MINUTES``, until someone extends it (``modes.mode_extend`` clears
``reminded_at`` and sets a later time) or lifts it (``modes.mode_change`` to normal clears
``review_by``). Run by beat every five minutes (``failsafe.containment_reminders``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.models import Mode, ModelMode

from .. import notices

REMINDER = Actor.system("failsafe.reminders")


def containments_due(*, now: dt.datetime) -> list[int]:
    """Ids of the mode rows past their review-by time whose last reminder is old enough."""
    every = dt.timedelta(minutes=settings.FAILSAFE_REMINDER_MINUTES)
    return list(
        ModelMode.objects.exclude(mode=Mode.NORMAL)
        .filter(review_by__isnull=False, review_by__lte=now)
        .filter(Q(reminded_at__isnull=True) | Q(reminded_at__lte=now - every))
        .order_by("id")
        .values_list("id", flat=True)
    )


def containment_reminders_send(*, now: dt.datetime | None = None) -> int:
    """Remind about every containment past its review time; returns how many were reminded.

    Each row is taken with a conditional UPDATE of ``reminded_at`` (the state it was read in:
    same mode, same review-by time, same last reminder), so two overlapping runs, or a switch
    or an extension racing this one, never remind twice nor about a lifted model."""
    now = now or clock.now()
    every = dt.timedelta(minutes=settings.FAILSAFE_REMINDER_MINUTES)
    reminded = 0
    for pk in containments_due(now=now):
        with transaction.atomic():
            row = ModelMode.objects.select_related("model").filter(pk=pk).first()
            if row is None or row.mode == Mode.NORMAL or row.review_by is None:
                continue
            if row.review_by > now or (row.reminded_at and row.reminded_at > now - every):
                continue
            taken = ModelMode.objects.filter(
                pk=pk, mode=row.mode, review_by=row.review_by, reminded_at=row.reminded_at
            ).update(reminded_at=now)
            if not taken:
                continue  # it moved meanwhile: the next run reads it afresh
            told = notices.review_due(
                model=row.model,
                mode=row.mode,
                since=row.since,
                review_by=row.review_by,
                owner_id=row.owner_id,
            )
            audit_record(
                actor=REMINDER,
                verb="failsafe.model_mode.reminded",
                target=row.model,
                before={"reminded_at": row.reminded_at.isoformat() if row.reminded_at else None},
                after={"reminded_at": now.isoformat()},
                data={
                    "mode": row.mode,
                    "review_by": row.review_by.isoformat(),
                    "owner": row.owner_id,
                    "recipients": told,
                },
            )
            reminded += 1
    return reminded
