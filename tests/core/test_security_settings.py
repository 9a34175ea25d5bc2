"""Production settings refuse to start without the secrets that protect the deployment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]
PROD = {
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "failsafe.example.org",
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWZpZWxkLWtleS0wMTIzNDU2Nzg5YWI=",
    "METRICS_TOKEN": "scrape-token",
}
STRIPPED = {
    "DEBUG",
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    *PROD,
    "METRICS_PUBLIC",
}


def _settings(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    clean.update({"FAILSAFE_VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-c", "import reviewapp.settings as s; print('started', s.DEBUG)"],
        cwd=ROOT,
        env={k: v for k, v in clean.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_values_start(tmp_path):
    result = _settings(tmp_path, **PROD)
    assert result.returncode == 0, result.stderr
    assert "started False" in result.stdout


@pytest.mark.parametrize(
    ("missing", "words"),
    [
        ("METRICS_TOKEN", "METRICS_TOKEN must be set when DEBUG is off"),
        ("FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off"),
    ],
)
def test_production_refuses_to_start_without(tmp_path, missing, words):
    env = {k: v for k, v in PROD.items() if k != missing}
    result = _settings(tmp_path, **env)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {words}" in result.stderr


def test_metrics_public_is_an_explicit_opt_out(tmp_path):
    env = {k: v for k, v in PROD.items() if k != "METRICS_TOKEN"}
    assert _settings(tmp_path, METRICS_PUBLIC="1", **env).returncode == 0


def test_debug_runs_with_development_defaults(tmp_path):
    result = _settings(tmp_path, DEBUG="1")
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
@override_settings(METRICS_TOKEN="", METRICS_PUBLIC=False, DEBUG=False)
def test_metrics_stay_closed_if_neither_token_nor_opt_out_reached_the_view():
    response = Client().get("/metrics")
    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content


@pytest.mark.django_db
def test_every_page_carries_the_content_security_and_permissions_policies():
    response = Client().get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ):
        assert directive in csp
    assert "unsafe-eval" not in csp and "http" not in csp
    script_src = csp.split("script-src ")[1].split(";")[0]
    assert "unsafe-inline" not in script_src
    policy = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy
    for path in ("/healthz", "/api/docs/", "/api/schema/"):
        assert "Content-Security-Policy" in Client().get(path)


@pytest.mark.django_db
def test_pages_have_no_inline_script(lead):
    client = Client()
    client.force_login(lead)
    for path in ("/", "/queue/", "/accounts/lockouts/", "/api/docs/"):
        html = client.get(path, follow=True).content.decode()
        for chunk in html.split("<script")[1:]:
            assert chunk.split(">", 1)[0].strip().startswith("src="), (path, chunk[:80])
