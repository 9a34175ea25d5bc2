"""Paths of the change-request pages that the policy pages and the flag link to."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse


def request_path(change_request_id: int) -> str:
    return reverse("governance:request", args=[change_request_id])


def propose_path(model_slug: str) -> str:
    return f"{reverse('governance:propose')}?{urlencode({'model': model_slug})}"
