"""Test settings: the production module with only what makes tests fast overridden."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# Tests run with DEBUG off, like production: give them a test-only encryption key and an open
# /metrics (tests of the token set it themselves).
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWZpZWxkLWtleS0wMTIzNDU2Nzg5YWI=")
os.environ.setdefault("METRICS_PUBLIC", "1")
# The fixed development key of the audit chain (public; see settings.AUDIT_CHAIN_DEV_KEYS).
os.environ.setdefault("AUDIT_CHAIN_KEYS", "dev:ZmFpbHNhZmUtZGV2LW9ubHktYXVkaXQtY2hhaW4ta2V5IQ==")

from .settings import *  # noqa: E402,F403
from .settings import DATABASES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Worker and browser tests run other processes against the test database, so on SQLite it
# must be a file they can open rather than the default in-memory database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-failsafe.sqlite3")}

# Several test runs may share one PostgreSQL server (e.g. parallel developers): each may
# name its own test database.
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ["TEST_DATABASE_NAME"]

# The read replica (core/db_router.py), pointed at the primary: the alias always exists in
# tests, as a test mirror of "default" (no second test database; its connection opens the
# default's test database). Inside a test's wrapping transaction the router reads the primary,
# so only tests that commit (transactional ones naming both databases) see replica reads.
DATABASES["replica"] = {
    **DATABASES["default"],
    "OPTIONS": dict(DATABASES["default"].get("OPTIONS", {})),
    "TEST": {**DATABASES["default"].get("TEST", {}), "MIRROR": "default"},
}

# Browser tests serve CSS straight from the source folders (no collectstatic step).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Writing an audit verb no app registered is a bug: fail the test that does it.
AUDIT_STRICT_VERBS = True
# The test runner empties tables with TRUNCATE between transactional tests; the audit tables'
# trigger allows it only in sessions that ask (core.apps sets it when this is on).
AUDIT_ALLOW_TEST_TRUNCATE = True
# No checkpoint file by default: a test that needs one points this at its own tmp_path, so
# checkpoints of one test (or an earlier run) never meet another test's chain.
AUDIT_CHECKPOINT_FILE = ""

# Delivery tests run a real HTTP receiver on 127.0.0.1; tests of the refusal turn this off.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

# No role needs a second factor unless a test says so (accounts tests override this).
OTP_REQUIRED_ROLES: list[str] = []

# Routing looks up the proposals in shadow on every chunk (no per-process cache between tests).
GOVERNANCE_SHADOW_LOOKUP_SECONDS = 0
