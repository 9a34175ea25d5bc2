"""The fail-safe pages (namespace ``failsafe``): the overview, each model's page and its
switches, the alerts."""

from django.urls import path

from .views import alerts as alert_views
from .views import modes as mode_views

app_name = "failsafe"

urlpatterns = [
    path("", mode_views.overview, name="overview"),
    path("models/<slug:slug>/", mode_views.model_page, name="model"),
    # One path per action (not a catch-all), so other parts may add pages under models/<slug>/.
    *[
        path(f"models/<slug:slug>/{action}/", mode_views.switch, {"action": action}, name=action)
        for action in mode_views.ACTIONS
    ],
    path("models/<slug:slug>/owners/", mode_views.owners, name="owners"),
    path("alerts/", alert_views.alerts, name="alerts"),
    path("alerts/<int:alert_id>/", alert_views.alert, name="alert"),
    path(
        "alerts/<int:alert_id>/acknowledge",
        alert_views.alert_acknowledge_view,
        name="alert-acknowledge",
    ),
]
