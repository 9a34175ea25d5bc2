"""The review-quality pages, under /quality/ (namespace ``quality``). Each part adds its lines."""

from django.urls import path  # noqa: F401

app_name = "quality"

urlpatterns: list = []

# --- double ---
from .views import double as double_views  # noqa: E402

urlpatterns += [
    path("adjudication/", double_views.adjudications, name="adjudications"),
    path("adjudication/<int:review_id>/", double_views.adjudication, name="adjudication"),
]
# --- end double ---
