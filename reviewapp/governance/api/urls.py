"""Governance API routes, included under ``/api/v1/`` (namespace ``governance-api``)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "governance-api"

urlpatterns = [
    path("change-requests", views.ChangeRequestListView.as_view(), name="change-requests"),
    path(
        "change-requests/<int:pk>",
        views.ChangeRequestDetailView.as_view(),
        name="change-request",
    ),
    *(
        path(f"change-requests/<int:pk>/{action}", view.as_view(), name=f"change-request-{action}")
        for action, view in (
            ("submit", views.SubmitView),
            ("approve", views.ApproveView),
            ("reject", views.RejectView),
            ("request-changes", views.RequestChangesView),
            ("withdraw", views.WithdrawView),
            ("rebase", views.RebaseView),
            ("comment", views.CommentView),
            ("ratify", views.RatifyView),
        )
    ),
    path(
        "models/<slug:slug>/policy-versions",
        views.PolicyVersionListView.as_view(),
        name="policy-versions",
    ),
    path(
        "models/<slug:slug>/emergency-rollback",
        views.EmergencyRollbackView.as_view(),
        name="emergency-rollback",
    ),
]
