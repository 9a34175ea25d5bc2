"""The review-quality pages, under /quality/ (namespace ``quality``)."""

from django.urls import path

from .views import double as double_views
from .views import gold as gold_views
from .views import people as people_views
from .views import scorecards as scorecard_views

app_name = "quality"

urlpatterns = [
    # agreement and scorecards
    path("", scorecard_views.overview, name="overview"),
    path("me/", scorecard_views.my_scorecard, name="my-scorecard"),
    path("reviewers/<int:user_id>/", scorecard_views.reviewer_scorecard, name="reviewer-scorecard"),
    # blind double review
    path("adjudication/", double_views.adjudications, name="adjudications"),
    path("adjudication/<int:review_id>/", double_views.adjudication, name="adjudication"),
    # alerts, pools, guidelines
    path("alerts/", people_views.alerts, name="alerts"),
    path("alerts/<int:alert_id>/resolve/", people_views.alert_resolve_view, name="alert-resolve"),
    path("pools/<slug:model_slug>/", people_views.pool, name="pool"),
    path("pools/<slug:model_slug>/members/", people_views.pool_action, name="pool-action"),
    path("guidelines/<slug:model_slug>/", people_views.guideline, name="guideline"),
    # gold
    path("gold/", gold_views.gold_list, name="gold-list"),
    path("gold/<int:gold_id>/retire/", gold_views.gold_retire, name="gold-retire"),
    path("gold/mark/<int:item_id>/", gold_views.gold_mark, name="gold-mark"),
]
