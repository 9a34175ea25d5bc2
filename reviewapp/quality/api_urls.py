"""The review-quality API under /api/v1/quality/... Each part includes its module here."""

from django.urls import include, path  # noqa: F401

urlpatterns: list = []
urlpatterns += [path("", include("reviewapp.quality.api.scorecards"))]  # --- scorecards ---
urlpatterns += [path("", include("reviewapp.quality.api.double"))]  # double
