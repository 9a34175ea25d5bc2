"""The fail-safe API (namespace ``failsafe-api``): a model's mode and monitors, alerts."""

from django.urls import path  # noqa: F401

app_name = "failsafe-api"

urlpatterns: list = []

# --- alerts ---
from . import alerts as alerts_api  # noqa: E402

urlpatterns += [
    path("alerts", alerts_api.AlertListView.as_view(), name="alerts"),
    path(
        "alerts/<int:pk>/acknowledge",
        alerts_api.AlertAcknowledgeView.as_view(),
        name="alert-acknowledge",
    ),
]
