"""The review-quality API under /api/v1/quality/... One module per part."""

from django.urls import include, path

urlpatterns = [
    path("", include("reviewapp.quality.api.scorecards")),
    path("", include("reviewapp.quality.api.double")),
    path("", include("reviewapp.quality.api.people")),
    path("quality/", include("reviewapp.quality.api.gold")),
]
