"""The fail-safe API (namespace ``failsafe-api``): a model's mode and monitors, alerts."""

from django.urls import path  # noqa: F401

app_name = "failsafe-api"

urlpatterns: list = []
