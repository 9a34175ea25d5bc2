"""Shapes of the fail-safe API's model endpoints: the mode switch's input (strict: an undeclared
field is a 400 naming it) and the model as ``GET /api/v1/models/{slug}`` shows it. The answer
is built as a plain dict by :func:`model_representation`; ``ModelDetailOut`` only describes it
for the OpenAPI schema (the schemathesis test holds every answer to it)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from reviewapp.api.ingest import registered_model_fields
from reviewapp.core.api import StrictInputSerializer
from reviewapp.core.time import iso_utc
from reviewapp.governance.api.serializers import WhenField
from reviewapp.models import MLModel, Mode, ModelMode
from reviewapp.selectors.ingest import model_list_representation

MONITOR_FIELDS = ("name", "state", "value", "bound", "severity")


# --- input ------------------------------------------------------------------------------------
class ModeIn(StrictInputSerializer):
    mode = serializers.ChoiceField(choices=Mode.choices)
    # Blank is the service's 400 on ``reason`` (one message for every caller).
    reason = serializers.CharField(allow_blank=True, trim_whitespace=False)
    review_by = WhenField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the containment or halt must be looked at again (ISO 8601, in the "
        "future); default FAILSAFE_CONTAINMENT_REVIEW_HOURS from now. Not with `normal`.",
    )


# --- answers ----------------------------------------------------------------------------------
MonitorStateOut = inline_serializer(
    "MonitorState",
    {
        "name": serializers.CharField(),
        "state": serializers.CharField(help_text="ok, spike, shift, ... as the monitor says."),
        "value": serializers.FloatField(allow_null=True),
        "bound": serializers.FloatField(allow_null=True),
        "severity": serializers.CharField(help_text="S1 (worst) to S4."),
    },
)

ModelDetailOut = inline_serializer(
    "ModelDetail",
    {
        **registered_model_fields(),
        "mode": serializers.ChoiceField(Mode.choices),
        "mode_since": serializers.DateTimeField(
            allow_null=True, help_text="When the current mode began; null if never switched."
        ),
        "mode_reason": serializers.CharField(help_text="Why (empty if never switched)."),
        "mode_review_by": serializers.DateTimeField(
            allow_null=True, help_text="When a containment or halt must be looked at again."
        ),
        "monitors": MonitorStateOut.__class__(many=True),
        "owners": serializers.ListField(
            child=serializers.CharField(),
            help_text="Usernames of the people told when the model's monitors fire or its "
            "mode changes (beside the free-text `owner_team`), sorted.",
        ),
    },
)


def _monitor(state: dict[str, Any]) -> dict[str, Any]:
    return {name: state.get(name) for name in MONITOR_FIELDS}


def model_representation(
    model: MLModel, *, mode: ModelMode | None, monitors: list[dict[str, Any]]
) -> dict[str, Any]:
    """The model as the models list shows it, plus its operating mode and monitors."""
    return {
        **model_list_representation(model),
        "mode": mode.mode if mode is not None else Mode.NORMAL,
        "mode_since": iso_utc(mode.since) if mode is not None else None,
        "mode_reason": mode.reason if mode is not None else "",
        "mode_review_by": iso_utc(mode.review_by) if mode is not None else None,
        "monitors": [_monitor(state) for state in monitors],
        "owners": sorted(u.get_username() for u in model.owners.all()),
    }
