"""The queue app's API routes: ingestion under the "api" namespace, the queue under "queue-api"."""

from django.urls import include, path

from . import ingest, queue, replay

ingest_patterns = [
    path("predictions", ingest.predictions_endpoint, name="predictions"),
    path("predictions/batch", ingest.PredictionBatchView.as_view(), name="predictions-batch"),
    path("predictions/<int:pk>", ingest.PredictionDetailView.as_view(), name="prediction-detail"),
    path(
        "predictions/<int:pk>/replay",
        replay.PredictionReplayView.as_view(),
        name="prediction-replay",
    ),
    path("models", ingest.ModelListView.as_view(), name="models"),
]

queue_patterns = [
    path("queue/items", queue.QueueItemsView.as_view(), name="items"),
    path("queue/claim", queue.ClaimNextView.as_view(), name="claim"),
    path("queue/items/<int:item_id>", queue.QueueItemDetailView.as_view(), name="item"),
    path("queue/items/<int:item_id>/decide", queue.DecideView.as_view(), name="decide"),
    path("queue/items/<int:item_id>/release", queue.ReleaseView.as_view(), name="release"),
    path("queue/items/<int:item_id>/renew", queue.RenewView.as_view(), name="renew"),
    path("queue/decisions/<int:decision_id>/undo", queue.UndoView.as_view(), name="undo"),
]

urlpatterns = [
    path("", include((ingest_patterns, "api"))),
    path("", include((queue_patterns, "queue-api"))),
]
