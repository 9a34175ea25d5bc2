"""Stewardship: what is overdue for review."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import FailureMode, MitigationTemplate


def stewardship_overdue(*, user: Any = None, today: dt.date | None = None) -> dict[str, QuerySet]:
    today = today or timezone.localdate()
    fms = (
        FailureMode.objects.filter(next_review_on__lt=today)
        .exclude(status=FailureMode.Status.DEPRECATED)
        .select_related("owner", "steward", "category")
        .order_by("next_review_on", "pk")
    )
    mits = MitigationTemplate.objects.filter(next_review_on__lt=today).select_related("owner")
    if user is not None:
        fms = fms.filter(Q(owner=user) | Q(steward=user))
        mits = mits.filter(owner=user)
    return {"failure_modes": fms, "mitigations": mits.order_by("next_review_on", "pk")}
