"""The fail-safe pages (namespace ``failsafe``)."""

from django.urls import path  # noqa: F401

app_name = "failsafe"

urlpatterns: list = []

# --- modes: the pages ---
from .views import modes as mode_views  # noqa: E402

urlpatterns += [
    path("", mode_views.overview, name="overview"),
    path("models/<slug:slug>/", mode_views.model_page, name="model"),
    # One path per action (not a catch-all), so other parts may add pages under models/<slug>/.
    *[
        path(f"models/<slug:slug>/{action}/", mode_views.switch, {"action": action}, name=action)
        for action in mode_views.ACTIONS
    ],
]
