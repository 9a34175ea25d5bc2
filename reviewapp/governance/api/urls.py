"""Governance API routes, included under ``/api/v1/``."""

from __future__ import annotations

from django.urls import path  # noqa: F401 - the API modules add their routes below

urlpatterns: list = []
