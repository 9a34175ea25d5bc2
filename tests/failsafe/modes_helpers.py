"""Helpers of the modes tests: clients for each kind of caller, and a switch through the
service."""

from __future__ import annotations

from rest_framework.test import APIClient

from reviewapp.accounts.services import personal_token_create
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.models import MLModel


def json_client() -> APIClient:
    client = APIClient()
    client.default_format = "json"  # the API reads JSON only
    return client


def session_client(user) -> APIClient:
    client = json_client()
    client.force_login(user)
    return client


def bearer_client(user) -> APIClient:
    client = json_client()
    token = personal_token_create(user=user, name="tests", days=1).token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def token_client(token: str) -> APIClient:
    client = json_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def switch(model: MLModel, mode: str, user, reason: str = "Too many escapes.", **kwargs):
    return mode_change(model=model, mode=mode, reason=reason, user=user, **kwargs)
