"""GET /healthz: database and broker, as a load balancer and the CI smoke test read it."""

from __future__ import annotations

import socket
import time

import pytest
from django.db import OperationalError

from reviewapp.celery import app as celery_app
from reviewapp.core import views as core_views

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["broker_transport"] in {"filesystem", "network"}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_degraded_when_the_broker_is_unreachable(client, monkeypatch):
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    monkeypatch.setitem(celery_app.conf, "broker_url", dead)
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", dead)
    monkeypatch.setitem(celery_app.conf, "broker_write_url", None)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {"socket_connect_timeout": 1})
    started = time.monotonic()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"] == "down"
    assert response.json()["database"] == "ok"
    assert time.monotonic() - started < 10  # a probe must not hang on a dead broker


class DeadConnection:
    vendor = "postgresql"

    def cursor(self):
        raise OperationalError("connection refused")


def test_503_when_the_database_is_down(client, monkeypatch):
    monkeypatch.setattr(core_views, "connection", DeadConnection())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["database"] == "down"


def test_healthz_needs_no_login_and_refuses_writes(client):
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
