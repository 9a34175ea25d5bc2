from django.urls import include, path

from . import api

urlpatterns = [
    path("playbooks", api.PlaybookListView.as_view(), name="playbooks"),
    path("playbooks/<slug:slug>", api.PlaybookDetailView.as_view(), name="playbook"),
    path(
        "playbooks/<slug:slug>/versions",
        api.PlaybookVersionsView.as_view(),
        name="playbook-versions",
    ),
    path("", include("playbooks.incidents.api")),
    path("", include("playbooks.incidents.api_checklist")),
    path("", include("playbooks.incidents.api_metrics")),
    path("", include("playbooks.incidents.api_recovery")),
    path("", include("playbooks.incidents.api_impact")),
    path("", include("playbooks.incidents.api_postmortem")),
    path("", include("playbooks.incidents.api_timeline")),
]
