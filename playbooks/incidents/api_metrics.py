"""``GET /api/v1/incidents/metrics?model=slug``: the incident metrics page's figures as JSON,
each with ``n``, the number of incidents behind it. Same visibility as the page: the incidents
of the models the caller can see."""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.exceptions import NotFound
from reviewapp.selectors.visibility import models_visible_to

from . import metrics
from .api_common import CanReadIncidents


class FigureOut(serializers.Serializer):
    mean_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(
        allow_null=True, help_text="Nearest-rank 90th percentile: one of the observed durations."
    )
    n = serializers.IntegerField(help_text="Incidents behind the figure.")
    few = serializers.BooleanField(help_text=f"Fewer than {metrics.FEW} incidents.")


class TimesOut(serializers.Serializer):
    detect = FigureOut(help_text="Impact start → detection.")
    contain = FigureOut(help_text="Detection → containment.")
    resolve = FigureOut(help_text="Detection → remediated.")


class ExcludedOut(serializers.Serializer):
    cancelled = serializers.IntegerField(help_text="Left out of every figure.")
    without_impact_start = serializers.IntegerField(help_text="Left out of time to detect.")
    not_contained = serializers.IntegerField(help_text="Left out of time to contain.")
    not_resolved = serializers.IntegerField(help_text="Left out of time to resolve.")


class BucketOut(serializers.Serializer):
    start = serializers.DateField(help_text="First day of the week or month (caller's zone).")
    n = serializers.IntegerField()
    times = TimesOut()


class CountOut(serializers.Serializer):
    key = serializers.CharField(help_text="A severity, or a failure mode's slug.")
    title = serializers.CharField()
    n = serializers.IntegerField()


class IncidentRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    title = serializers.CharField()
    detected_at = serializers.DateTimeField()


class WronglyServedOut(serializers.Serializer):
    incident = IncidentRefOut()
    queued = serializers.IntegerField()
    rechecked = serializers.IntegerField()
    overturned = serializers.IntegerField(help_text="Re-reviews that overrode what was served.")


class OverdueOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.CharField()
    owner = serializers.CharField()
    due_on = serializers.DateField()
    days_overdue = serializers.IntegerField()
    incident = IncidentRefOut()


class RecurrenceOut(serializers.Serializer):
    failure_mode = serializers.CharField()
    earlier = IncidentRefOut()
    later = IncidentRefOut()
    actions_done_at = serializers.DateTimeField()


ERRORS = inline_serializer(
    "IncidentMetricsErrors",
    {"errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField()))},
)


class MetricsOut(serializers.Serializer):
    model = serializers.CharField(allow_null=True, help_text="The model's slug; null: overall.")
    period = serializers.ChoiceField(["week", "month"])
    incidents = serializers.IntegerField(help_text="Incidents counted (not cancelled).")
    excluded = ExcludedOut()
    times = TimesOut()
    over_time = BucketOut(many=True)
    by_severity = CountOut(many=True)
    by_failure_mode = CountOut(many=True)
    untyped = serializers.IntegerField(help_text="Incidents typed by no failure mode.")
    overturned = serializers.IntegerField(help_text="Predictions overturned on re-review.")
    overturned_per_incident = FigureOut()
    wrongly_served = WronglyServedOut(many=True)
    overdue_actions = OverdueOut(many=True)
    recurrences = RecurrenceOut(many=True)


def _figure(fig: metrics.Figure) -> dict[str, Any]:
    return {"mean_seconds": fig.mean, "p90_seconds": fig.p90, "n": fig.n, "few": fig.few}


def _times(d: metrics.Durations) -> dict[str, Any]:
    return {key: _figure(fig) for key, fig in d.as_list()}


def _ref(r: metrics.IncidentRow) -> dict[str, Any]:
    return {"id": r.pk, "reference": r.reference, "title": r.title, "detected_at": r.detected_at}


def metrics_json(m: metrics.Metrics) -> dict[str, Any]:
    return {
        "model": m.model or None,
        "period": m.period,
        "incidents": m.incidents,
        "excluded": {"cancelled": m.cancelled, **m.durations.excluded},
        "times": _times(m.durations),
        "over_time": [
            {"start": b.start, "n": b.n, "times": _times(b.figures)} for b in m.over_time
        ],
        "by_severity": [{"key": s, "title": s, "n": n} for s, n in m.by_severity],
        "by_failure_mode": [
            {"key": s, "title": m.failure_mode_titles.get(s, s), "n": n}
            for s, n in m.by_failure_mode
        ],
        "untyped": m.untyped,
        "overturned": m.overturned_total,
        "overturned_per_incident": _figure(m.overturned_per_incident),
        "wrongly_served": [
            {
                "incident": _ref(w.incident),
                "queued": w.queued,
                "rechecked": w.rechecked,
                "overturned": w.overturned,
            }
            for w in m.wrongly_served
        ],
        "overdue_actions": [
            {
                "id": a.pk,
                "title": a.title,
                "kind": a.kind,
                "owner": a.owner,
                "due_on": a.due_on,
                "days_overdue": a.days_overdue,
                "incident": _ref(a.incident),
            }
            for a in m.overdue
        ],
        "recurrences": [
            {
                "failure_mode": r.failure_mode,
                "earlier": _ref(r.earlier),
                "later": _ref(r.later),
                "actions_done_at": r.actions_done_at,
            }
            for r in m.recurrences
        ],
    }


class IncidentMetricsView(APIView):
    permission_classes = [CanReadIncidents]

    @extend_schema(
        operation_id="incidents_metrics",
        summary="Incident metrics, overall or of one model",
        parameters=[
            OpenApiParameter("model", str, description="A model's slug (default: every model).")
        ],
        responses={200: MetricsOut, 400: ERRORS, 403: ERRORS, 404: ERRORS},
    )
    def get(self, request: Request) -> Response:
        slug = request.query_params.get("model", "")
        # Matched in Python: a slug with a NUL byte must be a 404, not a database error.
        model = next((m for m in models_visible_to(request.user) if m.slug == slug), None)
        if slug and model is None:
            raise NotFound(_("No model “%s” you can see.") % slug[:200], field="model")
        found = metrics.metrics_for(
            request.user,
            model_id=model.pk if model else None,
            model_slug=model.slug if model else "",
        )
        return Response(MetricsOut(metrics_json(found)).data)


urlpatterns = [
    path("incidents/metrics", IncidentMetricsView.as_view(), name="incident-metrics"),
]
