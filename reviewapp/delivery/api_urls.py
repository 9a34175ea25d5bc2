from django.urls import path

from . import api

app_name = "delivery-api"

urlpatterns = [
    path("decisions", api.DecisionFeedView.as_view(), name="decisions-feed"),
    path("decisions/export", api.DecisionExportView.as_view(), name="decisions-export"),
]
