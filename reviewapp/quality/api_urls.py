"""The review-quality API under /api/v1/quality/... Each part includes its module here."""

from django.urls import include, path  # noqa: F401

urlpatterns: list = [
    path("quality/", include("reviewapp.quality.api.gold")),  # --- gold ---
]
