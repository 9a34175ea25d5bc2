"""The review-quality pages, under /quality/ (namespace ``quality``). Each part adds its lines."""

from django.urls import path  # noqa: F401

app_name = "quality"

urlpatterns: list = []
# --- gold ---
from .views import gold as gold_views  # noqa: E402

urlpatterns += [
    path("gold/", gold_views.gold_list, name="gold-list"),
    path("gold/<int:gold_id>/retire/", gold_views.gold_retire, name="gold-retire"),
    path("gold/mark/<int:item_id>/", gold_views.gold_mark, name="gold-mark"),
]
# --- end gold ---
