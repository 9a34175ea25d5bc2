"""Opening incidents from elsewhere: one click on a fail-safe alert, and by themselves when a
monitor stops a model on a persistent shift (the ``failsafe.mode_changed`` hook).

Both go through ``services.incident_open`` (its checks and its audit event). An alert opens
at most one incident: while an open incident links it, both paths hand that one back instead
of opening a second.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import notifications, state
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import NotFound, PermissionDenied
from reviewapp.core.roles import LEAD
from reviewapp.failsafe import alert_selectors
from reviewapp.failsafe.models import Alert, ModeChange
from reviewapp.models import MLModel, Mode
from reviewapp.selectors.visibility import models_visible_to

from ..models import Incident, IncidentAlert, Playbook, PlaybookIndex
from . import services
from .machine import INCIDENT
from .selectors import OPEN_STATUSES, may_open

NOTICE_KIND = "playbooks.incident_unattended"
STOPPED = (Mode.CONTAINED, Mode.HALTED)


def register_notification_kinds() -> None:
    from django.utils.translation import gettext_lazy

    notifications.register_kind(
        key=NOTICE_KIND,
        label=gettext_lazy("Incident opened by a monitor, nobody in command"),
        description=gettext_lazy(
            "The model's owners and the leads: a monitor stopped a model and opened an incident."
        ),
        order=60,
    )


def playbook_for_monitor(monitor: str) -> str:
    """The active playbook whose current version names ``monitor`` as its trigger, when
    exactly one does ("" when none or several: then a person chooses)."""
    slugs = list(
        Playbook.objects.filter(
            status=Playbook.Status.ACTIVE,
            current__index__kind=PlaybookIndex.Kind.MONITOR,
            current__index__value=monitor,
        )
        .values_list("slug", flat=True)
        .distinct()[:2]
    )
    return slugs[0] if len(slugs) == 1 else ""


def open_incident_for_alert(alert_id: int) -> Incident | None:
    """The open incident that links this alert (the oldest, should there be several)."""
    return (
        Incident.objects.filter(status__in=OPEN_STATUSES, alert_links__alert_id=alert_id)
        .order_by("detected_at", "id")
        .first()
    )


def _title(alert: Alert) -> str:
    return _("%(model)s: %(monitor)s out of bounds") % {
        "model": alert.model.slug,
        "monitor": alert_selectors.monitor_label(alert.monitor),
    }


def _severity(alert: Alert) -> str:
    return alert.severity if alert.severity in services.SEVERITIES else "S2"


@transaction.atomic
def incident_open_from_alert(*, actor: Any, alert_id: int) -> tuple[Incident, bool]:
    """One click on an alert's page: open an incident on its model, linking it, with its
    severity, impact start at the alert's ``since`` and the playbook its monitor triggers
    (pinned when exactly one active playbook names it); the actor commands it.

    Returns ``(incident, True)``, or ``(the open incident that already links the alert,
    False)``: never a second one. An alert the actor cannot see is 404; a person who may not
    open incidents, 403."""
    if not may_open(actor):
        raise PermissionDenied(_("Only engineers and leads open incidents."))
    alert = (
        Alert.objects.select_for_update(of=("self",))
        .select_related("model")
        .filter(pk=alert_id, model__in=models_visible_to(actor))
        .first()
    )
    if alert is None:
        raise NotFound(_("No such alert."), field="alert")
    existing = open_incident_for_alert(alert.pk)
    if existing is not None:
        return existing, False
    incident = services.incident_open(
        actor=actor,
        title=_title(alert),
        severity=_severity(alert),
        model_slugs=[alert.model.slug],
        playbook_slug=playbook_for_monitor(alert.monitor),
        alert_ids=[alert.pk],
        impact_started_at=alert.since,
        source=Incident.Source.ALERT,
    )
    return incident, True


# -- automatic ------------------------------------------------------------------------------


def severe_enough(severity: str, threshold: str | None = None) -> bool:
    """S1 is the worst: ``severity`` at or above ``threshold`` (settings'
    INCIDENT_AUTO_OPEN_SEVERITY; "" or an unknown value: never)."""
    threshold = settings.INCIDENT_AUTO_OPEN_SEVERITY if threshold is None else threshold
    if threshold not in services.SEVERITIES or severity not in services.SEVERITIES:
        return False
    return services.SEVERITIES.index(severity) <= services.SEVERITIES.index(threshold)


def on_mode_changed(*, model: MLModel, change: ModeChange) -> Incident | None:
    """Hook ``failsafe.mode_changed`` (in the switch's transaction, in a savepoint of its own).

    A monitor (no person) that contained or halted ``model`` on a persistent shift at least
    as severe as the setting opens an incident by itself, contained at the switch's time
    with nobody in command, and tells the model's owners and the leads. An open incident on
    the model already there gets the alert linked instead. People's switches open nothing:
    their incident page offers "Mark contained"."""
    if change.actor_id is not None or not change.monitor or change.to_mode not in STOPPED:
        return None
    alert = change.alert
    if alert is None or alert.shape != Alert.Shape.SHIFT or not severe_enough(alert.severity):
        return None
    monitor_actor = Actor.system(f"monitor:{change.monitor}")
    existing = open_incident_for_alert(alert.pk) or (
        Incident.objects.filter(status__in=OPEN_STATUSES, model_links__model_id=model.pk)
        .order_by("detected_at", "id")
        .first()
    )
    if existing is not None:
        _, created = IncidentAlert.objects.get_or_create(incident=existing, alert=alert)
        if created:
            services.record(
                existing,
                "playbooks.incident.linked",
                monitor_actor,
                data={"models": [], "alerts": [alert.pk], "review_items": [],
                      "failure_modes": [], "mode_change": change.pk},
                subjects={"failsafe.alert": [alert.pk]},
            )  # fmt: skip
        return existing
    at = change.created_at
    detected = min(alert.opened_at, at)
    impact = min(alert.since, detected)
    incident = services.incident_open(
        actor=None,
        monitor=change.monitor,
        title=_title(alert),
        severity=alert.severity,
        model_slugs=[model.slug],
        playbook_slug=playbook_for_monitor(alert.monitor),
        alert_ids=[alert.pk],
        impact_started_at=impact,
        detected_at=detected,
        source=Incident.Source.MONITOR,
    )
    # The model is stopped already: the incident is contained at that moment. A system move
    # through the state machine, without the people's guards (they judge a person's claim
    # that the harm is stopped; here the switch itself is the fact).
    state.apply(
        INCIDENT,
        instance=incident,
        event="contain",
        actor=monitor_actor,
        changes={"version": incident.version + 1, "contained_at": at},
        data={"at": at.isoformat(), "milestone": "contained_at", "mode_change": change.pk},
    )
    _tell_unattended(incident, model, change)
    return incident


def _tell_unattended(incident: Incident, model: MLModel, change: ModeChange) -> None:
    owners = list(model.owners.filter(is_active=True).values_list("pk", flat=True))
    leads = list(
        get_user_model()
        ._default_manager.filter(groups__name=LEAD, is_active=True)
        .values_list("pk", flat=True)
    )
    notifications.notify(
        recipients=sorted(set(owners) | set(leads)),
        kind=NOTICE_KIND,
        title=_("%(ref)s opened by monitor %(monitor)s: nobody in command")
        % {"ref": incident.reference, "monitor": change.monitor},
        body=_(
            "The monitor %(monitor)s %(mode)s %(model)s (%(severity)s) and opened %(ref)s. "
            "Take command on the incident page."
        )
        % {
            "monitor": change.monitor,
            "mode": change.to_mode,
            "model": model.slug,
            "severity": incident.severity,
            "ref": incident.reference,
        },
        link=incident.get_absolute_url(),
        actor=Actor.system(f"monitor:{change.monitor}"),
    )
