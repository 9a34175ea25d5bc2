"""Who may read and run incidents, and the reads every incident page and the API start from.

Reading follows the queue's visibility rule: a person reads an incident when they can see one
of its models (engineers, leads and the committee see every model; reviewers their pools'
models). Running one (lifecycle, checklist, hypotheses, recovery, post-mortem) is for
engineers and leads, and for its commander.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from reviewapp.core.roles import CATALOG_EDITOR, has_role
from reviewapp.selectors.visibility import visible_model_ids

from ..models import Incident, IncidentFailureMode, IncidentMember, IncidentModel

OPEN_STATUSES = ("detected", "triaged", "contained", "remediated", "verified")


def may_open(user: Any) -> bool:
    """Engineers and leads open and run incidents."""
    return bool(user and getattr(user, "is_authenticated", False)) and user.has_perm(
        "playbooks.run_incident"
    )


def may_run(user: Any, incident: Incident) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return may_open(user) or incident.commander_id == user.pk


def may_read_any(user: Any) -> bool:
    return bool(user and getattr(user, "is_authenticated", False)) and user.has_perm(
        "playbooks.view_incident"
    )


def incidents_visible_to(user: Any, qs: QuerySet[Incident] | None = None) -> QuerySet[Incident]:
    """Incidents ``user`` may read: those with a model they can see. Catalog editors read
    every incident (the catalog learns from all of them: post-mortems feed its entries), but
    not the predictions in it: those keep the queue's rule."""
    qs = Incident.objects.all() if qs is None else qs
    if not may_read_any(user):
        return qs.none()
    if has_role(user, CATALOG_EDITOR):
        return qs
    visible = visible_model_ids(user)
    if visible is None:
        return qs
    return qs.filter(
        Exists(IncidentModel.objects.filter(incident=OuterRef("pk"), model_id__in=visible))
    )


def incident_for(user: Any, pk: Any) -> Incident | None:
    """The incident with ``pk`` if ``user`` may read it (None: no such incident for them)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return (
        incidents_visible_to(user)
        .select_related("commander", "opened_by", "playbook_version__playbook")
        .filter(pk=pk)
        .first()
    )


def open_incidents_on(model_id: int) -> QuerySet[Incident]:
    return Incident.objects.filter(status__in=OPEN_STATUSES, model_links__model_id=model_id)


def incidents_with_links(qs: QuerySet[Incident]) -> QuerySet[Incident]:
    """``qs`` with everything the API's answer shows loaded in a fixed number of queries:
    its commander, opener and playbook, its people, models (with their operating mode),
    alerts, failure modes and review items."""
    return qs.select_related(
        "commander", "opened_by", "playbook_version__playbook"
    ).prefetch_related(
        Prefetch("members", IncidentMember.objects.select_related("user")),
        Prefetch("model_links", IncidentModel.objects.select_related("model__mode_row")),
        "alert_links",
        Prefetch("failure_mode_links", IncidentFailureMode.objects.select_related("failure_mode")),
        "item_links",
    )
