"""The review-quality API under /api/v1/quality/... Each part includes its module here."""

from django.urls import include, path

urlpatterns: list = []
urlpatterns += [path("", include("reviewapp.quality.api.scorecards"))]  # --- scorecards ---
urlpatterns += [path("", include("reviewapp.quality.api.double"))]  # double
urlpatterns += [path("", include("reviewapp.quality.api.people"))]  # people
urlpatterns: list = [
    path("quality/", include("reviewapp.quality.api.gold")),  # --- gold ---
]
