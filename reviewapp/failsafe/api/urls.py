"""The fail-safe API (namespace ``failsafe-api``): a model's mode and monitors, alerts."""

from django.urls import path

from . import alerts as alerts_api
from . import views as mode_views

app_name = "failsafe-api"

urlpatterns = [
    path("models/<slug:slug>", mode_views.ModelDetailView.as_view(), name="model"),
    path("models/<slug:slug>/mode", mode_views.ModelModeView.as_view(), name="model-mode"),
    path("alerts", alerts_api.AlertListView.as_view(), name="alerts"),
    path(
        "alerts/<int:pk>/acknowledge",
        alerts_api.AlertAcknowledgeView.as_view(),
        name="alert-acknowledge",
    ),
]
