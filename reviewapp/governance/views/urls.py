"""Governance pages, mounted at ``/governance/`` (namespace ``governance``)."""

from __future__ import annotations

from django.urls import path

from . import policies, requests

app_name = "governance"

urlpatterns: list = [
    # Change requests (committee home, request page, propose and edit): views/requests.py
    path("", requests.home, name="home"),
    path("requests/", requests.request_list, name="requests"),
    path("requests/new/", requests.propose, name="propose"),
    path("requests/<int:pk>/", requests.request_detail, name="request"),
    path("requests/<int:pk>/edit/", requests.request_edit, name="request-edit"),
    path("requests/<int:pk>/evidence/", requests.request_evidence, name="request-evidence"),
    path("requests/<int:pk>/approve/", requests.request_approve, name="request-approve"),
    path(
        "requests/<int:pk>/<slug:action>/",
        requests.request_action,
        name="request-action",
    ),
    # Policy history, diff, export, current policy, emergency rollback: views/policies.py
    *policies.urlpatterns,
]
