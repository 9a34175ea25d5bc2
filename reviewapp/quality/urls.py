"""The review-quality pages, under /quality/ (namespace ``quality``). Each part adds its lines."""

from django.urls import path

app_name = "quality"

urlpatterns: list = []

# --- people ---
from .views import people as people_views  # noqa: E402

urlpatterns += [
    path("alerts/", people_views.alerts, name="alerts"),
    path("alerts/<int:alert_id>/resolve/", people_views.alert_resolve_view, name="alert-resolve"),
    path("pools/<slug:model_slug>/", people_views.pool, name="pool"),
    path("pools/<slug:model_slug>/members/", people_views.pool_action, name="pool-action"),
    path("guidelines/<slug:model_slug>/", people_views.guideline, name="guideline"),
]
# --- end people ---
