from django.urls import path

from . import api

urlpatterns = [
    path("failure-modes", api.FailureModeListView.as_view(), name="catalog-failure-modes"),
    path(
        "failure-mode-facets",
        api.FailureModeFacetsView.as_view(),
        name="catalog-failure-mode-facets",
    ),
    path(
        "failure-modes/<slug:slug>",
        api.FailureModeDetailView.as_view(),
        name="catalog-failure-mode",
    ),
    path("catalog", api.CatalogTransferView.as_view(), name="catalog-transfer"),
]
