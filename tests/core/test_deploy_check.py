"""Production settings must pass Django's deployment checklist with nothing to report."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


PRODUCTION_KEYS = (
    "2026a:"
    + base64.b64encode(b"a" * 32).decode()
    + ",2026b:"
    + base64.b64encode(b"b" * 32).decode()
)
PRODUCTION = {
    "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-value-0123456789",
    "ALLOWED_HOSTS": "failsafe.example.org",
}


def _check(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "METRICS_PUBLIC",
            # settings_test puts the development chain key in this process's environment
            "AUDIT_CHAIN_KEYS",
            "AUDIT_CHAIN_KEY_ID",
            # set by the browser tests' fixture in this process; production never has it
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_values(tmp_path):
    result = _check(
        {
            "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-value-0123456789",
            "ALLOWED_HOSTS": "failsafe.example.org",
            "FIELD_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWZpZWxkLWtleS0wMTIzNDU2Nzg5YWI=",
            "METRICS_TOKEN": "a-scrape-token",
            "FAILSAFE_VAR_DIR": str(tmp_path),
            "AUDIT_CHAIN_KEYS": PRODUCTION_KEYS,
            "AUDIT_CHAIN_KEY_ID": "2026b",
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret(tmp_path):
    result = _check({"FAILSAFE_VAR_DIR": str(tmp_path), "AUDIT_CHAIN_KEYS": PRODUCTION_KEYS})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_refuse_to_start_without_an_audit_chain_key(tmp_path):
    result = _check({**PRODUCTION, "FAILSAFE_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "AUDIT_CHAIN_KEYS must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    ("keys", "key_id", "message"),
    [
        ("nocolon", "", "must read id:base64key"),
        ("k1:***", "", "key 'k1' is not base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "", "is 5 bytes"),
        (PRODUCTION_KEYS, "", "AUDIT_CHAIN_KEY_ID must name one of"),
        (PRODUCTION_KEYS, "gone", "AUDIT_CHAIN_KEY_ID must name one of"),
    ],
)
def test_a_bad_audit_chain_key_names_the_problem(tmp_path, keys, key_id, message):
    env = {**PRODUCTION, "FAILSAFE_VAR_DIR": str(tmp_path), "AUDIT_CHAIN_KEYS": keys}
    if key_id:
        env["AUDIT_CHAIN_KEY_ID"] = key_id
    result = _check(env)
    assert result.returncode != 0
    assert message in result.stderr


def test_debug_runs_on_the_fixed_development_key(tmp_path):
    result = _check({"DEBUG": "1", "FAILSAFE_VAR_DIR": str(tmp_path)})
    assert "AUDIT_CHAIN_KEYS" not in result.stderr, result.stderr
