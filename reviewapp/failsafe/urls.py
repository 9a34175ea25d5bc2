"""The fail-safe pages (namespace ``failsafe``)."""

from django.urls import path  # noqa: F401

app_name = "failsafe"

urlpatterns: list = []

# --- alerts ---
from .views import alerts as alert_views  # noqa: E402

urlpatterns += [
    path("alerts/", alert_views.alerts, name="alerts"),
    path("alerts/<int:alert_id>/", alert_views.alert, name="alert"),
    path(
        "alerts/<int:alert_id>/acknowledge",
        alert_views.alert_acknowledge_view,
        name="alert-acknowledge",
    ),
]
