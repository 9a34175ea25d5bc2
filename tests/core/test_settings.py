"""Settings read the environment and nothing else: no folders on import, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from reviewapp.settings import env_float, env_int

ROOT = Path(__file__).resolve().parents[2]
_KEYS = "t:" + "dGVzdC1vbmx5LWF1ZGl0LWNoYWluLWtleS0zMi1ieXRlcyE="


def _python(code: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL", "DATABASE_URL"}
    }
    env.update({"SECRET_KEY": "test-only", "AUDIT_CHAIN_KEYS": _KEYS, **extra_env})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_importing_settings_creates_no_folder_and_the_celery_app_makes_the_broker_folders(
    tmp_path,
):
    var = tmp_path / "var"
    result = _python(
        "import os, django\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'reviewapp.settings'\n"
        "from django.conf import settings\n"
        "settings.CELERY_BROKER_URL\n"  # the settings module is imported here
        "print('after settings:', os.path.exists(os.environ['FAILSAFE_VAR_DIR']))\n"
        "django.setup()\n"
        "print('after setup:', os.path.exists(os.environ['FAILSAFE_VAR_DIR']))\n"
        "from reviewapp.celery import app\n"
        "app.conf.broker_url\n",
        FAILSAFE_VAR_DIR=str(var),
    )
    assert result.returncode == 0, result.stderr
    assert "after settings: False" in result.stdout
    assert "after setup: False" in result.stdout
    assert sorted(p.name for p in (var / "broker").iterdir()) == ["control", "processed", "queue"]


def test_a_bad_whole_number_in_the_environment_names_the_variable(tmp_path):
    result = _python(
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'reviewapp.settings'\n"
        "from django.conf import settings; settings.DEBUG\n",
        FAILSAFE_VAR_DIR=str(tmp_path),
        INGEST_ROUTE_CHUNK="abc",
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: INGEST_ROUTE_CHUNK must be a whole number, got 'abc'" in (
        result.stderr
    )


def test_env_int_and_env_float(monkeypatch):
    monkeypatch.setenv("FS_TEST_NUMBER", "12")
    assert env_int("FS_TEST_NUMBER", 3) == 12
    monkeypatch.setenv("FS_TEST_NUMBER", "")
    assert env_int("FS_TEST_NUMBER", 3) == 3
    monkeypatch.setenv("FS_TEST_NUMBER", "1.5")
    with pytest.raises(ImproperlyConfigured, match="FS_TEST_NUMBER must be a whole number"):
        env_int("FS_TEST_NUMBER", 3)
    assert env_float("FS_TEST_NUMBER", 3) == 1.5
    monkeypatch.setenv("FS_TEST_NUMBER", "fast")
    with pytest.raises(ImproperlyConfigured, match="FS_TEST_NUMBER must be a number, got 'fast'"):
        env_float("FS_TEST_NUMBER", 3)


def test_makemigrations_check_runs_without_any_production_secret(tmp_path):
    """A fresh checkout has no secrets; the migrations check must still answer, while a
    command that does use them (migrate) still refuses to start without them."""
    secrets = {
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "AUDIT_CHAIN_KEYS",
        "AUDIT_CHAIN_KEY_ID",
        "METRICS_TOKEN",
        "METRICS_PUBLIC",
        "DEBUG",
        "DJANGO_SETTINGS_MODULE",
    }
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    env["FAILSAFE_VAR_DIR"] = str(tmp_path)

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    checked = manage("makemigrations", "--check", "--dry-run")
    assert checked.returncode == 0, checked.stderr
    assert "No changes detected" in checked.stdout
    refused = manage("migrate", "--check")
    assert refused.returncode != 0
    assert "must be set when DEBUG is off" in refused.stderr
