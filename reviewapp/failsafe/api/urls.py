"""The fail-safe API (namespace ``failsafe-api``): a model's mode and monitors, alerts."""

from django.urls import path  # noqa: F401

app_name = "failsafe-api"

urlpatterns: list = []

# --- modes ---
from . import views as mode_views  # noqa: E402

urlpatterns += [
    path("models/<slug:slug>", mode_views.ModelDetailView.as_view(), name="model"),
    path("models/<slug:slug>/mode", mode_views.ModelModeView.as_view(), name="model-mode"),
]
