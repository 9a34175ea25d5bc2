from django.urls import path

from . import api

app_name = "api"

urlpatterns = [
    path("predictions", api.PredictionsView.as_view(), name="predictions"),
    path("predictions/batch", api.PredictionBatchView.as_view(), name="predictions-batch"),
    path("predictions/<int:pk>", api.PredictionDetailView.as_view(), name="prediction-detail"),
    path("models", api.ModelListView.as_view(), name="models"),
]
