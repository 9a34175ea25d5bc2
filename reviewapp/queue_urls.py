from django.urls import path

from . import queue_views as views

app_name = "queue"

urlpatterns = [
    path("", views.queue_list, name="list"),
    path("next/", views.start_reviewing, name="next"),
    path("escalations/", views.escalations, name="escalations"),
    path("pools/", views.pools, name="pools"),
    path("bulk/", views.bulk, name="bulk"),
    path("guidelines/<slug:slug>/", views.guideline, name="guideline"),
    path("items/<int:item_id>/", views.item_page, name="item"),
    path("items/<int:item_id>/review/", views.review, name="review"),
    path("items/<int:item_id>/decide/", views.decide, name="decide"),
    path("items/<int:item_id>/renew/", views.renew, name="renew"),
    path("items/<int:item_id>/take/", views.take, name="take"),
    path("items/<int:item_id>/release/", views.release, name="release"),
    path("items/<int:item_id>/assign/", views.assign, name="assign"),
    path("decisions/<int:decision_id>/undo/", views.undo, name="undo"),
]
