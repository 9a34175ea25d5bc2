"""Occurrences: each report of a failure mode, counted once per source."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import NotFound, ServiceError

from ..models import FailureMode, Occurrence


@transaction.atomic
def occurrence_record(
    *,
    failure_mode_slug: str,
    source_type: str,
    source_id: str | int,
    occurred_at: dt.datetime,
    actor: Actor | None = None,
) -> Occurrence:
    """Count one report of a failure mode. Idempotent per (failure mode, source).

    The review queue calls this when a reviewer tags a decision (source_type
    "review_decision", source_id the decision id); playbooks call it per incident.
    Runs inside the caller's transaction when there is one.
    """
    if source_type not in Occurrence.SourceType.values:
        raise ServiceError(
            _("Unknown source type."),
            errors={
                "source_type": [_("Use one of: %s.") % ", ".join(Occurrence.SourceType.values)]
            },
        )
    if not isinstance(occurred_at, dt.datetime) or timezone.is_naive(occurred_at):
        raise ServiceError(
            _("occurred_at must be an aware datetime."),
            errors={"occurred_at": [_("Must be an aware datetime.")]},
        )
    fm = FailureMode.objects.filter(slug=failure_mode_slug).only("pk").first()
    if fm is None:
        raise NotFound(_("No failure mode “%s”.") % failure_mode_slug, field="failure_mode_slug")
    key = {"failure_mode_id": fm.pk, "source_type": source_type, "source_id": str(source_id)}
    existed = Occurrence.objects.filter(**key).first()
    if existed is not None:
        return existed
    # ON CONFLICT DO NOTHING: a concurrent recorder of the same source wins without an error.
    Occurrence.objects.bulk_create(
        [Occurrence(occurred_at=occurred_at, **key)], ignore_conflicts=True
    )
    occurrence = Occurrence.objects.get(**key)
    # Recount instead of incrementing, so a lost race cannot double count.
    FailureMode.objects.filter(pk=fm.pk).update(
        occurrence_count=Subquery(
            Occurrence.objects.filter(failure_mode=OuterRef("pk"))
            .values("failure_mode")
            .annotate(n=Count("id"))
            .values("n")[:1]
        )
    )
    audit_record(
        actor=actor or Actor.system("catalog"),
        verb="catalog.occurrence.recorded",
        target=("catalog.failuremode", fm.pk),
        after={"source_type": source_type, "source_id": str(source_id)},
        data={"occurred_at": occurred_at.isoformat()},
    )
    return occurrence
