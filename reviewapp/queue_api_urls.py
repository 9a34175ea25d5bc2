from django.urls import path

from . import queue_api

app_name = "queue-api"

urlpatterns = [
    path("queue/items", queue_api.QueueItemsView.as_view(), name="items"),
    path("queue/claim", queue_api.ClaimNextView.as_view(), name="claim"),
    path("queue/items/<int:item_id>", queue_api.QueueItemDetailView.as_view(), name="item"),
    path("queue/items/<int:item_id>/decide", queue_api.DecideView.as_view(), name="decide"),
    path("queue/items/<int:item_id>/release", queue_api.ReleaseView.as_view(), name="release"),
    path("queue/items/<int:item_id>/renew", queue_api.RenewView.as_view(), name="renew"),
    path("queue/decisions/<int:decision_id>/undo", queue_api.UndoView.as_view(), name="undo"),
]
