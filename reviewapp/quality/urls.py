"""The review-quality pages, under /quality/ (namespace ``quality``). Each part adds its lines."""

from django.urls import path  # noqa: F401

app_name = "quality"

urlpatterns: list = []
