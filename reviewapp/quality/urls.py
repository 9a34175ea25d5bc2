"""The review-quality pages, under /quality/ (namespace ``quality``). Each part adds its lines."""

from django.urls import path  # noqa: F401

from .views import scorecards as scorecard_views

app_name = "quality"

urlpatterns: list = []
# --- scorecards ---
urlpatterns += [
    path("", scorecard_views.overview, name="overview"),
    path("me/", scorecard_views.my_scorecard, name="my-scorecard"),
    path("reviewers/<int:user_id>/", scorecard_views.reviewer_scorecard, name="reviewer-scorecard"),
]

# --- double ---
from .views import double as double_views  # noqa: E402

urlpatterns += [
    path("adjudication/", double_views.adjudications, name="adjudications"),
    path("adjudication/<int:review_id>/", double_views.adjudication, name="adjudication"),
]
# --- end double ---
