"""Stewardship: marking an entry reviewed, reminding stewards of overdue reviews."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import PermissionDenied

from ..models import FailureMode, MitigationTemplate
from .common import Status, actor_for

REMIND_EVERY = dt.timedelta(days=7)


@transaction.atomic
def stewardship_remind(*, now: dt.datetime | None = None) -> int:
    """Remind stewards of overdue entries and mitigations, at most once a week per object.

    A reminder is an email to the steward (or owner) plus an audit event; the overdue list
    in the app shows the same set. Returns how many objects were reminded.
    """
    from django.core.mail import send_mail

    now = now or clock.now()
    today = timezone.localdate(now)
    cutoff = now - REMIND_EVERY
    due_fms = list(
        FailureMode.objects.filter(next_review_on__lt=today)
        .exclude(status=Status.DEPRECATED)
        .exclude(last_reminded_at__gte=cutoff)
        .select_related("owner", "steward")
    )
    due_mits = list(
        MitigationTemplate.objects.filter(next_review_on__lt=today)
        .exclude(last_reminded_at__gte=cutoff)
        .select_related("owner")
    )
    by_person: dict[Any, list[str]] = {}
    for fm in due_fms:
        person = fm.steward or fm.owner
        if person is not None:
            by_person.setdefault(person, []).append(
                f"failure mode: {fm.title} (due {fm.next_review_on})"
            )
    for m in due_mits:
        if m.owner is not None:
            by_person.setdefault(m.owner, []).append(
                f"mitigation: {m.title} (due {m.next_review_on})"
            )
    for person, lines in by_person.items():
        if person.email:
            send_mail(
                subject=_("Failsafe catalog: %d entries are due for review") % len(lines),
                message="\n".join(lines),
                from_email=None,
                recipient_list=[person.email],
                fail_silently=True,
            )
    FailureMode.objects.filter(pk__in=[f.pk for f in due_fms]).update(last_reminded_at=now)
    MitigationTemplate.objects.filter(pk__in=[m.pk for m in due_mits]).update(last_reminded_at=now)
    if due_fms or due_mits:
        audit_record(
            actor=Actor.system("catalog.stewardship"),
            verb="catalog.stewardship.reminded",
            target=("catalog.catalog", "stewardship"),
            data={
                "failure_modes": [f.slug for f in due_fms],
                "mitigations": [m.slug for m in due_mits],
                "people": sorted(p.get_username() for p in by_person),
            },
            subjects={
                FailureMode._meta.label_lower: [f.pk for f in due_fms],
                MitigationTemplate._meta.label_lower: [m.pk for m in due_mits],
            },
        )
    return len(due_fms) + len(due_mits)


@transaction.atomic
def failure_mode_mark_reviewed(*, failure_mode: FailureMode, user: Any) -> FailureMode:
    fm = FailureMode.objects.select_for_update().get(pk=failure_mode.pk)
    if not (user.pk in (fm.owner_id, fm.steward_id) or user.has_perm("catalog.change_failuremode")):
        raise PermissionDenied(
            _("Only the owner, the steward or an editor may mark this reviewed.")
        )
    before = fm.next_review_on
    fm.next_review_on = timezone.localdate() + dt.timedelta(days=fm.review_interval_days)
    fm.last_reminded_at = None
    fm.save(update_fields=["next_review_on", "last_reminded_at"])
    audit_record(
        actor=actor_for(user),
        verb="catalog.failure_mode.reviewed",
        target=fm,
        before={"next_review_on": before.isoformat()},
        after={"next_review_on": fm.next_review_on.isoformat()},
    )
    return fm
