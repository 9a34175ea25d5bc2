from django.urls import path

from . import leads, media, mine, queue

app_name = "queue"

urlpatterns = [
    path("", queue.queue_list, name="list"),
    path("next/", queue.start_reviewing, name="next"),
    path("find/", mine.find, name="find"),
    path("mine/", mine.my_decisions_page, name="mine"),
    path("escalations/", leads.escalations, name="escalations"),
    path("pools/", leads.pools, name="pools"),
    path("bulk/", leads.bulk, name="bulk"),
    path("guidelines/<slug:slug>/", leads.guideline, name="guideline"),
    path("items/<int:item_id>/", queue.item_page, name="item"),
    path("items/<int:item_id>/review/", queue.review, name="review"),
    path("items/<int:item_id>/replay/", queue.item_replay, name="item-replay"),
    path("items/<int:item_id>/decide/", queue.decide, name="decide"),
    path("items/<int:item_id>/renew/", queue.renew, name="renew"),
    path("items/<int:item_id>/take/", queue.take, name="take"),
    path("items/<int:item_id>/release/", queue.release, name="release"),
    path("items/<int:item_id>/assign/", leads.assign, name="assign"),
    path("decisions/<int:decision_id>/undo/", queue.undo, name="undo"),
    # How inputs are presented (docs/presentation.md).
    path("items/<int:item_id>/image/", media.item_image, name="item-image"),
    path("models/<slug:slug>/presentation/", media.model_presentation, name="presentation"),
]
