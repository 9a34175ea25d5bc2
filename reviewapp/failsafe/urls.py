"""The fail-safe pages (namespace ``failsafe``)."""

from django.urls import path  # noqa: F401

app_name = "failsafe"

urlpatterns: list = []
