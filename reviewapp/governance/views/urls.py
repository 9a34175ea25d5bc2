"""Governance pages, mounted at ``/governance/`` (namespace ``governance``)."""

from __future__ import annotations

from django.urls import path  # noqa: F401 - the page modules add their routes below

from . import policies

app_name = "governance"

urlpatterns: list = [
    # Change requests (committee home, request page, propose and edit): views/requests.py
    # Policy history, diff, export, current policy, emergency rollback: views/policies.py
    *policies.urlpatterns,
]
