"""Shapes of the incidents API (``playbooks/incidents/api.py``): the inputs (strict: a field
an endpoint does not declare is a 400 naming it) and the incident as every endpoint answers
it. The answer is built as a plain dict by :func:`incident_representation` from rows the
selector already loaded; the ``*Out`` serializers only describe it for the OpenAPI schema
(the schemathesis run holds every answer to them).

Nothing here says who did something: the caller is the actor of every write (and the
commander of an incident it opens), so no input names an actor, an opener or a commander
at opening."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.core.api import StrictInputSerializer, id_field
from reviewapp.core.time import iso_utc, parse_when
from reviewapp.failsafe.services.modes import mode_row_of
from reviewapp.models import Mode

from ..models import Incident, IncidentMember
from .machine import INCIDENT
from .services import MAX_LINKS, MAX_TEXT, MAX_TITLE, SEVERITIES

MILESTONES = (
    "impact_started_at",
    "detected_at",
    "triaged_at",
    "contained_at",
    "remediated_at",
    "verified_at",
    "closed_at",
    "cancelled_at",
)
# (name, from, to): each duration is given when both ends are known.
DURATIONS = (
    ("time_to_detect", "impact_started_at", "detected_at"),
    ("time_to_contain", "detected_at", "contained_at"),
    ("time_to_resolve", "detected_at", "remediated_at"),
)
PEOPLE_ACTIONS = ("commander", "add", "remove")


@extend_schema_field(OpenApiTypes.DATETIME)
class WhenField(serializers.Field):
    """An ISO 8601 date-time with a zone offset (UTC when it has none), read with core's
    parser, which turns an out-of-range time into a 400 rather than an overflow."""

    default_error_messages = {"invalid": _("Not an ISO 8601 date-time.")}

    def to_internal_value(self, data: Any) -> dt.datetime:
        when = parse_when(data) if isinstance(data, str) else None
        if when is None:
            self.fail("invalid")
        return when

    def to_representation(self, value: Any) -> Any:
        return iso_utc(value)


def _when(help_text: str) -> WhenField:
    return WhenField(required=False, allow_null=True, help_text=help_text)


def _slugs(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=MAX_LINKS,
        help_text=help_text,
    )


def _ids(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=id_field(), required=False, max_length=MAX_LINKS, help_text=help_text
    )


# --- inputs ------------------------------------------------------------------------------------
class IncidentOpenIn(StrictInputSerializer):
    title = serializers.CharField(max_length=MAX_TITLE)
    severity = serializers.ChoiceField(SEVERITIES, help_text="S1 (worst) to S4.")
    models = serializers.ListField(
        child=serializers.CharField(max_length=200),
        max_length=MAX_LINKS,
        help_text="The slugs of the models it is about (at least one you can see).",
    )
    summary = serializers.CharField(
        max_length=MAX_TEXT, required=False, allow_blank=True, default=""
    )
    playbook = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="An active playbook's slug; the incident follows its current version.",
    )
    failure_modes = _slugs("Catalog failure modes' slugs.")
    alerts = _ids("Alert ids, each about one of the models.")
    review_items = _ids("Review item ids you can see, each of one of the models.")
    impact_started_at = _when("When the impact began, if known (ISO 8601).")
    detected_at = _when("When it was detected (ISO 8601); default now.")


class IncidentEditIn(StrictInputSerializer):
    version = id_field(help_text="The version you read (409 if the incident moved since).")
    title = serializers.CharField(max_length=MAX_TITLE, required=False)
    summary = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)
    severity = serializers.ChoiceField(SEVERITIES, required=False)
    impact_started_at = _when("null clears it.")
    detected_at = _when("Never null.")
    triaged_at = _when("Only once triaged (the lifecycle records it first).")
    contained_at = _when("Only once contained.")
    remediated_at = _when("Only once remediated (the resolution).")
    verified_at = _when("Only once verified.")
    closed_at = _when("Only once closed.")
    next_update_at = _when("When the next status update is due.")


class IncidentTransitionIn(StrictInputSerializer):
    event = serializers.ChoiceField(list(INCIDENT.events))
    version = id_field(help_text="The version you read (409 if the incident moved since).")
    at = _when("When it happened (ISO 8601), if earlier than now; never in the future.")
    reason = serializers.CharField(
        max_length=MAX_TEXT,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required to cancel; to verify without a confirmed root cause, why.",
    )


class IncidentPeopleIn(StrictInputSerializer):
    action = serializers.ChoiceField(PEOPLE_ACTIONS)
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(
        IncidentMember.Role.choices,
        required=False,
        help_text="For add and remove (scribe, liaison, participant, observer).",
    )
    version = id_field(
        required=False, help_text="For commander: the version you read (409 if it moved)."
    )


class IncidentLinksIn(StrictInputSerializer):
    models = _slugs("More models' slugs.")
    alerts = _ids("More alert ids.")
    review_items = _ids("More review item ids.")
    failure_modes = _slugs("More catalog failure modes' slugs.")


class IncidentNoteIn(StrictInputSerializer):
    body = serializers.CharField(max_length=MAX_TEXT, help_text="Plain text or Markdown.")


# --- answers -----------------------------------------------------------------------------------
class PlaybookRefOut(serializers.Serializer):
    slug = serializers.SlugField()
    version = serializers.IntegerField(help_text="The version the incident follows (pinned).")
    title = serializers.CharField()


class PersonOut(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(IncidentMember.Role.choices)


class IncidentModelOut(serializers.Serializer):
    slug = serializers.SlugField()
    mode = serializers.ChoiceField(Mode.choices, help_text="Its operating mode now.")


class MilestonesOut(serializers.Serializer):
    impact_started_at = serializers.DateTimeField(allow_null=True)
    detected_at = serializers.DateTimeField()
    triaged_at = serializers.DateTimeField(allow_null=True)
    contained_at = serializers.DateTimeField(allow_null=True)
    remediated_at = serializers.DateTimeField(allow_null=True, help_text="The resolution.")
    verified_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)


class DurationsOut(serializers.Serializer):
    time_to_detect = serializers.IntegerField(
        allow_null=True, help_text="Seconds from impact start to detection."
    )
    time_to_contain = serializers.IntegerField(
        allow_null=True, help_text="Seconds from detection to containment."
    )
    time_to_resolve = serializers.IntegerField(
        allow_null=True, help_text="Seconds from detection to resolution (remediated)."
    )


class IncidentUrlsOut(serializers.Serializer):
    html = serializers.CharField(help_text="The incident's page.")
    api = serializers.CharField(help_text="This resource.")


class IncidentOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(help_text="INC-<id>.")
    title = serializers.CharField()
    summary = serializers.CharField()
    status = serializers.ChoiceField(Incident.Status.choices)
    severity = serializers.ChoiceField(SEVERITIES)
    source = serializers.ChoiceField(Incident.Source.choices)
    playbook = PlaybookRefOut(allow_null=True)
    commander = serializers.CharField(allow_null=True, help_text="A username.")
    opened_by = serializers.CharField(allow_null=True, help_text="A username (null: a monitor).")
    opened_by_monitor = serializers.CharField(help_text="The monitor that opened it, if one.")
    milestones = MilestonesOut()
    durations = DurationsOut()
    cancel_reason = serializers.CharField()
    no_root_cause_reason = serializers.CharField()
    next_update_at = serializers.DateTimeField(allow_null=True)
    people = PersonOut(many=True, help_text="Everyone besides the commander, by role.")
    models = IncidentModelOut(many=True)
    alerts = serializers.ListField(child=serializers.IntegerField())
    failure_modes = serializers.ListField(child=serializers.SlugField())
    review_items = serializers.ListField(
        child=serializers.IntegerField(), help_text="The review items it is about (linked)."
    )
    version = serializers.IntegerField(help_text="Send it back with an edit or a transition.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    urls = IncidentUrlsOut()


class IncidentPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = IncidentOut(many=True)


class NoteOut(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField(allow_null=True, help_text="A username.")
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class NotePage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = NoteOut(many=True)


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def durations_of(incident: Incident) -> dict[str, int | None]:
    """Whole seconds between the milestones each duration spans (None: an end unknown)."""
    out: dict[str, int | None] = {}
    for name, start, end in DURATIONS:
        a, b = getattr(incident, start), getattr(incident, end)
        out[name] = int((b - a).total_seconds()) if a is not None and b is not None else None
    return out


def incident_representation(incident: Incident, *, html: str, api: str) -> dict[str, Any]:
    """The incident as the API answers it, from an instance loaded by
    ``selectors.incidents_for_api`` (its people, models, links prefetched)."""
    version = incident.playbook_version
    return {
        "id": incident.pk,
        "reference": incident.reference,
        "title": incident.title,
        "summary": incident.summary,
        "status": incident.status,
        "severity": incident.severity,
        "source": incident.source,
        "playbook": (
            {"slug": version.playbook.slug, "version": version.number, "title": version.title}
            if version is not None
            else None
        ),
        "commander": _username(incident.commander),
        "opened_by": _username(incident.opened_by),
        "opened_by_monitor": incident.opened_by_monitor,
        "milestones": {name: iso_utc(getattr(incident, name)) for name in MILESTONES},
        "durations": durations_of(incident),
        "cancel_reason": incident.cancel_reason,
        "no_root_cause_reason": incident.no_root_cause_reason,
        "next_update_at": iso_utc(incident.next_update_at),
        "people": [
            {"username": m.user.get_username(), "role": m.role}
            for m in sorted(incident.members.all(), key=lambda m: (m.role, m.user.get_username()))
        ],
        "models": [
            {"slug": link.model.slug, "mode": _mode(link.model)}
            for link in sorted(incident.model_links.all(), key=lambda link: link.model.slug)
        ],
        "alerts": sorted(link.alert_id for link in incident.alert_links.all()),
        "failure_modes": sorted(
            link.failure_mode.slug for link in incident.failure_mode_links.all()
        ),
        "review_items": sorted(
            link.review_item_id
            for link in incident.item_links.all()
            if link.kind == link.Kind.LINKED
        ),
        "version": incident.version,
        "created_at": iso_utc(incident.created_at),
        "updated_at": iso_utc(incident.updated_at),
        "urls": {"html": html, "api": api},
    }


def _mode(model: Any) -> str:
    row = mode_row_of(model)
    return row.mode if row is not None else Mode.NORMAL


def note_representation(note: Any) -> dict[str, Any]:
    return {
        "id": note.pk,
        "author": _username(note.author),
        "body": note.body,
        "created_at": iso_utc(note.created_at),
    }
