"""Failsafe settings: one module, driven by environment variables.

Defaults are safe for production (DEBUG off, no default secret, explicit hosts);
`make run` exports the development values. Every variable is listed in README.md.
"""

import base64
import binascii
import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FAILSAFE_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# A refused form gets the framed 403 page (what happened, what to do); the API answers JSON.
CSRF_FAILURE_VIEW = "reviewapp.core.views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "reviewapp.core",
    # --- accounts: two-factor sign-in (django-otp) ---
    "django_otp",
    "django_otp.plugins.otp_totp",
    "reviewapp.accounts",
    # --- end accounts ---
    "reviewapp.governance",
    "reviewapp",
    "reviewapp.delivery",
    "reviewapp.quality",
    "reviewapp.dashboards",
    "reviewapp.failsafe",
    "catalog",
    "playbooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "reviewapp.core.middleware.RequestIdMiddleware",
    "reviewapp.core.middleware.BodySizeLimitMiddleware",
    "reviewapp.core.middleware.StorableInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # --- accounts: whether this session passed its second factor, and holding it until so ---
    "django_otp.middleware.OTPMiddleware",
    "reviewapp.accounts.middleware.SecondFactorMiddleware",
    # --- end accounts ---
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "reviewapp.core.middleware.PermissionsPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "reviewapp.core.middleware.UserTimezoneMiddleware",
    # Last, so it sees the lockout a failed sign-in caused (see "Sign-in throttling").
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reviewapp.urls"
WSGI_APPLICATION = "reviewapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviewapp.core.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL via DATABASE_URL in production; SQLite under var/ as the embedded default.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'failsafe.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Gunicorn workers, the Celery worker and beat all write to one file: WAL lets readers
    # proceed during a write, IMMEDIATE takes the write lock at BEGIN (so a transaction never
    # fails half-way on upgrade), and the busy timeout makes writers wait instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
        ),
    }
# --- read replica (issue 18) ---
# Optional: dashboards, exports and replay read from it inside an explicit scope
# (reviewapp/core/db_router.py); writes, claims and services always use the primary. Unset,
# there is no "replica" alias and every read goes to the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    if DATABASES["replica"]["ENGINE"] == DATABASES["default"]["ENGINE"]:
        DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
        DATABASES["replica"]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
DATABASE_ROUTERS = ["reviewapp.core.db_router.ReplicaRouter"]
# --- end read replica ---
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Axes first: it refuses a locked-out (username, address) before any password is checked.
# Then Django's model backend, with the preference and role names loaded with the user.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "reviewapp.core.backends.AccountBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Shown when a user has not chosen a zone of their own.
DISPLAY_TIME_ZONE = env_str("DISPLAY_TIME_ZONE", "UTC")

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Accounts: two-factor sign-in and personal API tokens (README "Security") ---------------
# Roles that must sign in with a second factor (role names, plus "superuser" and "staff").
# Production default: leads, the committee and superusers; DEBUG (`make run`) and tests: none.
OTP_REQUIRED_ROLES = env_list("OTP_REQUIRED_ROLES", "" if DEBUG else "lead,committee,superuser")
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Failsafe")
# A session re-reads whether its account has an authenticator this often (seconds).
OTP_DEVICE_RECHECK_SECONDS = env_int("OTP_DEVICE_RECHECK_SECONDS", 60)
# Personal API tokens expire after at most this many days.
PERSONAL_TOKEN_MAX_DAYS = env_int("PERSONAL_TOKEN_MAX_DAYS", 90)
# --- end accounts ---

# --- Security (production values when DEBUG is off) -----------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz is probed over plain HTTP by load balancers and by `make run`'s smoke test.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
X_FRAME_OPTIONS = "DENY"

# Sign-in throttling (django-axes; README "Security"): after SIGNIN_FAILURE_LIMIT failed
# sign-ins for one username from one address, that pair is refused (HTTP 429, a page that says
# so) for SIGNIN_LOCKOUT_MINUTES from the moment of the lockout; a lead may clear it sooner.
# Failures older than the lockout time are forgotten. The address is REMOTE_ADDR: behind a
# proxy every client shares the proxy's address (see README).
AXES_FAILURE_LIMIT = env_int("SIGNIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SIGNIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "reviewapp.core.signin.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Successful sign-ins are not logged by axes: the session itself is the record.
AXES_DISABLE_ACCESS_LOG = True

# Markdown (guidelines, catalog) may show images only from this site or these origins
# ("https://img.example.org"); any other image becomes a link.
MARKDOWN_IMAGE_ORIGINS = env_list("MARKDOWN_IMAGE_ORIGINS")

# Content-Security-Policy (django-csp): only this origin's own files; no inline script, no
# inline <style> element, no eval. Style *attributes* are allowed (style-src-attr): the review
# page draws its confidence and attribution bars with width/left values (a style attribute
# cannot load anything or run script). Images: own files, data: URIs (Swagger UI's icons) and
# the Markdown image origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", *MARKDOWN_IMAGE_ORIGINS],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy (reviewapp.core.middleware.PermissionsPolicyMiddleware): every powerful
# browser feature off for every page; none of them is used.
PERMISSIONS_POLICY_FEATURES = [
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen",
    "geolocation", "gyroscope", "hid", "idle-detection", "magnetometer", "microphone",
    "midi", "payment", "picture-in-picture", "publickey-credentials-get", "screen-wake-lock",
    "serial", "usb", "xr-spatial-tracking",
]  # fmt: skip

# Webhook signing secrets are stored encrypted (Fernet) with these keys, newest first; the
# first encrypts, all decrypt, so a new key is put in front and `manage.py
# rotate_field_encryption` re-encrypts (README "Secrets at rest"). Required when DEBUG is off.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS:
    if DEBUG:
        # A fixed development key (urlsafe base64 of 32 bytes): never protects real secrets.
        FIELD_ENCRYPTION_KEYS = ["ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZC0="]
    else:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off (a comma-separated list of "
            'Fernet keys, newest first; make one with `python -c "from cryptography.fernet '
            'import Fernet; print(Fernet.generate_key().decode())"`).'
        )

# --- Request size limits --------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024)
INGEST_MAX_BATCH_BODY_BYTES = env_int("INGEST_MAX_BATCH_BODY_BYTES", 16 * 1024 * 1024)
INGEST_MAX_BATCH_ITEMS = env_int("INGEST_MAX_BATCH_ITEMS", 1000)
# Django's own cap must admit the largest body we accept; per-endpoint limits are stricter.
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BATCH_BODY_BYTES + 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10000

# --- Ingestion pipeline ---------------------------------------------------------------------
# An inbox row that no worker finished this long after it was (last) enqueued is enqueued again.
INGEST_SWEEP_AFTER_SECONDS = env_int("INGEST_SWEEP_AFTER_SECONDS", 120)
INGEST_SWEEP_INTERVAL_SECONDS = env_float("INGEST_SWEEP_INTERVAL_SECONDS", 30)
INGEST_ROUTE_CHUNK = env_int("INGEST_ROUTE_CHUNK", 500)
# After a failed publish, a process leaves new rows to the sweeper for this long.
INGEST_BROKER_RETRY_AFTER_SECONDS = env_float("INGEST_BROKER_RETRY_AFTER_SECONDS", 5)
# Per-process caches on the ingest hot path (0 turns them off): the model catalogue and
# service tokens. A revoked token stops working in other processes within this time.
INGEST_CATALOGUE_CACHE_SECONDS = env_float("INGEST_CATALOGUE_CACHE_SECONDS", 5)
SERVICE_TOKEN_CACHE_SECONDS = env_float("SERVICE_TOKEN_CACHE_SECONDS", 5)
# A routing task tops its chunk up with other waiting predictions (see services/routing.py).
INGEST_ROUTE_FILL = env_bool("INGEST_ROUTE_FILL", True)
# Single requests: each process publishes at most one "route model X" message per this many
# milliseconds, plus a trailing one for rows committed inside the window (0: one message per
# request). See services/route_coalesce.py.
INGEST_ROUTE_COALESCE_MS = env_float("INGEST_ROUTE_COALESCE_MS", 50)
AUDIT_SEAL_INTERVAL_SECONDS = env_float("AUDIT_SEAL_INTERVAL_SECONDS", 10)
AUDIT_SEAL_BATCH = env_int("AUDIT_SEAL_BATCH", 5000)


def audit_chain_keys(raw: str) -> dict[str, bytes]:
    """``id1:base64key,id2:base64key`` -> {id: key}; every key at least 32 bytes."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if (
            not sep
            or not key_id
            or len(key_id) > 32
            or not key_id.replace("-", "").replace("_", "").isalnum()
        ):
            raise ImproperlyConfigured(
                "AUDIT_CHAIN_KEYS must read id:base64key[,id:base64key…] with ids of at most "
                "32 letters, digits, '-' or '_'."
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"AUDIT_CHAIN_KEYS: key {key_id!r} is not base64.") from None
        if len(key) < 32:
            raise ImproperlyConfigured(
                f"AUDIT_CHAIN_KEYS: key {key_id!r} is {len(key)} bytes; use at least 32 random "
                "bytes (openssl rand -base64 32)."
            )
        keys[key_id] = key
    return keys


# The audit chain's MAC keys (core/audit.py). They live in the environment, never in the
# database, so whoever can rewrite the tables cannot recompute the chain. Rotation: add a new
# id:key pair, point AUDIT_CHAIN_KEY_ID at it, keep the old pairs for verification.
# A fixed, public development key stands in when DEBUG is on (make run) and in tests.
AUDIT_CHAIN_DEV_KEYS = "dev:" + base64.b64encode(b"failsafe-dev-only-audit-chain-key!").decode()
AUDIT_CHAIN_KEYS = audit_chain_keys(env_str("AUDIT_CHAIN_KEYS"))
if not AUDIT_CHAIN_KEYS:
    if DEBUG:
        AUDIT_CHAIN_KEYS = audit_chain_keys(AUDIT_CHAIN_DEV_KEYS)
    else:
        raise ImproperlyConfigured("AUDIT_CHAIN_KEYS must be set when DEBUG is off.")
AUDIT_CHAIN_KEY_ID = env_str("AUDIT_CHAIN_KEY_ID") or (
    next(iter(AUDIT_CHAIN_KEYS)) if len(AUDIT_CHAIN_KEYS) == 1 else ""
)
if AUDIT_CHAIN_KEY_ID not in AUDIT_CHAIN_KEYS:
    raise ImproperlyConfigured(
        "AUDIT_CHAIN_KEY_ID must name one of the AUDIT_CHAIN_KEYS ids (the key new seals use)."
    )
# Checkpoints of the chain head, written after every sealing run that sealed something, to
# sinks the database owner cannot rewrite: an append-only file (empty: none), the log, and
# optionally an HTTP endpoint on another host (POST of the JSON checkpoint; failures logged).
AUDIT_CHECKPOINT_FILE = env_str("AUDIT_CHECKPOINT_FILE", str(VAR_DIR / "audit-checkpoints.jsonl"))
AUDIT_CHECKPOINT_URL = env_str("AUDIT_CHECKPOINT_URL")
AUDIT_CHECKPOINT_TIMEOUT_SECONDS = env_float("AUDIT_CHECKPOINT_TIMEOUT_SECONDS", 5)
# How often beat verifies the whole chain against the checkpoints (the audit page shows it).
AUDIT_VERIFY_INTERVAL_HOURS = env_float("AUDIT_VERIFY_INTERVAL_HOURS", 24)
# Most events one export of the audit page streams.
AUDIT_EXPORT_MAX_ROWS = env_int("AUDIT_EXPORT_MAX_ROWS", 100_000)
# Tests only: lets the test runner TRUNCATE the audit tables between tests (PostgreSQL).
AUDIT_ALLOW_TEST_TRUNCATE = False
# Lease renewals (every minute per open review page) are audited when the lease end crosses
# a boundary of this many seconds: about one event per held item per this interval.
AUDIT_LEASE_RENEW_EVERY_SECONDS = env_int("AUDIT_LEASE_RENEW_EVERY_SECONDS", 600)
# An audit verb no app registered (reviewapp.core.verbs): raise when on (tests), else log a
# warning and keep the event.
AUDIT_STRICT_VERBS = env_bool("AUDIT_STRICT_VERBS", False)

# --- Dashboards -----------------------------------------------------------------------------
# Rollup bucket width; changing it needs `manage.py dashboards_rebuild`. Must divide 60 or be
# a multiple of 60 so hourly, 6-hourly and daily chart buckets line up.
DASHBOARD_BUCKET_MINUTES = env_int("DASHBOARD_BUCKET_MINUTES", 60)
DASHBOARD_FOLD_INTERVAL_SECONDS = env_float("DASHBOARD_FOLD_INTERVAL_SECONDS", 15)
# Rows younger than this wait for the next fold (longer than any write transaction lasts).
DASHBOARD_SETTLE_SECONDS = env_float("DASHBOARD_SETTLE_SECONDS", 10)
# 5-minute metric buckets (what automatic rules read) are kept this long; beat prunes older ones
# every DASHBOARD_METRICS_PRUNE_INTERVAL_MINUTES. The hourly rollups are kept for good.
DASHBOARD_METRICS_RETENTION_DAYS = env_int("DASHBOARD_METRICS_RETENTION_DAYS", 14)

# --- Fail-safe (reviewapp/failsafe): operating modes, monitors, alerts, data quality ---
# A containment or halt must be looked at again within this many hours (the switch may set
# another time); past it the owner and the leads are reminded until it is extended or lifted.
FAILSAFE_CONTAINMENT_REVIEW_HOURS = env_float("FAILSAFE_CONTAINMENT_REVIEW_HOURS", 4)
# A halted model's predictions still queued for review (purpose mode_sample), as a share.
FAILSAFE_HALTED_SAMPLE_RATE = env_float("FAILSAFE_HALTED_SAMPLE_RATE", 0.1)
# --- alerts ---
# On-call tools (PagerDuty, Opsgenie, an Alertmanager webhook receiver...) get alert.opened,
# alert.acknowledged and alert.resolved here, signed like decisions (Standard Webhooks) with
# FAILSAFE_ALERT_WEBHOOK_SECRET (whsec_<base64>). Empty URL: no webhook, notifications only.
FAILSAFE_ALERT_WEBHOOK_URL = env_str("FAILSAFE_ALERT_WEBHOOK_URL")
FAILSAFE_ALERT_WEBHOOK_SECRET = env_str("FAILSAFE_ALERT_WEBHOOK_SECRET")
# Attempts per event (backoff 30 s doubling, at most 10 min apart) before it is given up.
FAILSAFE_ALERT_WEBHOOK_MAX_ATTEMPTS = env_int("FAILSAFE_ALERT_WEBHOOK_MAX_ATTEMPTS", 8)
# --- monitors ---
# Beat judges every model's monitors this often (task on its own queue, "monitors").
FAILSAFE_MONITOR_INTERVAL_SECONDS = env_float("FAILSAFE_MONITOR_INTERVAL_SECONDS", 60)
# An alert resolves once its metric has been back inside the bound this long (a monitor may
# set its own resolve_minutes).
FAILSAFE_ALERT_RESOLVE_MINUTES = env_int("FAILSAFE_ALERT_RESOLVE_MINUTES", 15)
# Recent auto-accepted predictions queued for review on a persistent shift (per monitor:
# shift_sample_size), and the SLA of those review items.
FAILSAFE_SHIFT_SAMPLE_SIZE = env_int("FAILSAFE_SHIFT_SAMPLE_SIZE", 20)
FAILSAFE_SHIFT_SAMPLE_SLA_MINUTES = env_int("FAILSAFE_SHIFT_SAMPLE_SLA_MINUTES", 240)
DASHBOARD_METRICS_PRUNE_INTERVAL_MINUTES = env_float("DASHBOARD_METRICS_PRUNE_INTERVAL_MINUTES", 60)
# GET /metrics requires "Authorization: Bearer <METRICS_TOKEN>". With DEBUG off the token is
# required unless METRICS_PUBLIC=1 says, on purpose, that anyone who reaches the app may read
# the figures (e.g. it listens on a private network only).
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_PUBLIC = env_bool("METRICS_PUBLIC", False)
if not DEBUG and not METRICS_TOKEN and not METRICS_PUBLIC:
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be set when DEBUG is off (or set METRICS_PUBLIC=1 to serve "
        "/metrics without a token on purpose)."
    )

# --- Email and notifications ----------------------------------------------------------------
# Notifications (core.notifications) send email through Django's backend. `make run` (DEBUG)
# prints them on the console; production sends over SMTP with the settings below.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set at most one of EMAIL_USE_TLS and EMAIL_USE_SSL.")
# Seconds before a silent mail server gives up (the email task runs in a worker, never a request).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "failsafe@localhost")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
EMAIL_SUBJECT_PREFIX = env_str("EMAIL_SUBJECT_PREFIX", "[Failsafe] ")
# Put before a notification's link in its email ("https://failsafe.example.org"); empty: the
# email shows the path only.
NOTIFICATIONS_SITE_URL = env_str("NOTIFICATIONS_SITE_URL")
# Read notifications older than this are deleted by beat (daily); unread ones are kept.
NOTIFICATIONS_RETENTION_DAYS = env_int("NOTIFICATIONS_RETENTION_DAYS", 90)

# --- Review queue ---------------------------------------------------------------------------
# A claim is a lease, renewed while the review page is open; an expired one is released by beat.
REVIEW_CLAIM_LEASE_SECONDS = env_int("REVIEW_CLAIM_LEASE_SECONDS", 900)
# An item a lead assigns to someone is held for them this long.
REVIEW_ASSIGN_LEASE_SECONDS = env_int("REVIEW_ASSIGN_LEASE_SECONDS", 8 * 3600)
# Grace period for Undo: decisions are delivered to the producer only after it.
REVIEW_UNDO_SECONDS = env_int("REVIEW_UNDO_SECONDS", 8)
# A defer without a "not before" time puts the item behind the others of its priority band and
# keeps it from the reviewer who deferred it for this long; other reviewers get it at once.
QUEUE_DEFER_EXCLUSION_MINUTES = env_int("QUEUE_DEFER_EXCLUSION_MINUTES", 30)
# Open items this close to their SLA deadline get REVIEW_SLA_PRIORITY_BUMP more priority (once).
REVIEW_SLA_NEAR_SECONDS = env_int("REVIEW_SLA_NEAR_SECONDS", 600)
REVIEW_SLA_PRIORITY_BUMP = env_int("REVIEW_SLA_PRIORITY_BUMP", 20)
REVIEW_BULK_LIMIT = env_int("REVIEW_BULK_LIMIT", 500)
# The filter counts of the queue list are recomputed at most this often (per web process).
REVIEW_COUNTS_CACHE_SECONDS = env_int("REVIEW_COUNTS_CACHE_SECONDS", 10)
# The leads' escalations count in the top bar is cached this long (dropped on an escalation).
REVIEW_ESCALATIONS_COUNT_SECONDS = env_int("REVIEW_ESCALATIONS_COUNT_SECONDS", 30)
# Beat recounts open items this often; the page counts itself if the snapshot is older than STALE.
REVIEW_COUNTS_INTERVAL_SECONDS = env_float("REVIEW_COUNTS_INTERVAL_SECONDS", 15)
REVIEW_COUNTS_STALE_SECONDS = env_int("REVIEW_COUNTS_STALE_SECONDS", 120)
REVIEW_SWEEP_INTERVAL_SECONDS = env_float("REVIEW_SWEEP_INTERVAL_SECONDS", 30)

# --- Governance: change requests (docs/policies.md, "Change requests") -----------------------
# Approvals a change request needs by the model's criticality tier (a per-model approval rule
# may override); one more when the evidence shows a large impact. Capped by eligible voters.
GOVERNANCE_REQUIRED_APPROVALS = {"critical": 2, "high": 2, "medium": 1, "low": 1}
# Proportional quorum: reviewed volume moving by more than this share asks for one more vote.
GOVERNANCE_VOLUME_CHANGE_LIMIT = env_float("GOVERNANCE_VOLUME_CHANGE_LIMIT", 0.25)
# An open request untouched this long expires (beat).
GOVERNANCE_CHANGE_REQUEST_EXPIRY_DAYS = env_int("GOVERNANCE_CHANGE_REQUEST_EXPIRY_DAYS", 14)
# An emergency rollback needs one committee ratification within this many hours.
GOVERNANCE_RATIFICATION_HOURS = env_int("GOVERNANCE_RATIFICATION_HOURS", 24)
GOVERNANCE_APPLY_INTERVAL_SECONDS = env_float("GOVERNANCE_APPLY_INTERVAL_SECONDS", 60)
# Shadow periods (docs/governance.md, "Lifecycle"): routing looks up the proposals in shadow
# at most once per this many seconds per process (0: on every routed chunk).
GOVERNANCE_SHADOW_LOOKUP_SECONDS = env_float("GOVERNANCE_SHADOW_LOOKUP_SECONDS", 10)
# Rollback triggers of applied requests are checked by beat this often.
GOVERNANCE_TRIGGER_INTERVAL_SECONDS = env_float("GOVERNANCE_TRIGGER_INTERVAL_SECONDS", 60)
# The committee is reminded of an overdue emergency-rollback ratification this often.
GOVERNANCE_RATIFICATION_REMINDER_HOURS = env_float("GOVERNANCE_RATIFICATION_REMINDER_HOURS", 24)
# --- Governance: change-request evidence (docs/policies.md, "Evidence") ------------------------
# The impact replay reads the model's predictions routed in the last WINDOW_DAYS, at most
# MAX_PREDICTIONS of them (the most recent), CHUNK rows per query.
GOVERNANCE_EVIDENCE_WINDOW_DAYS = env_int("GOVERNANCE_EVIDENCE_WINDOW_DAYS", 14)
GOVERNANCE_EVIDENCE_MAX_PREDICTIONS = env_int("GOVERNANCE_EVIDENCE_MAX_PREDICTIONS", 200_000)
GOVERNANCE_EVIDENCE_CHUNK = env_int("GOVERNANCE_EVIDENCE_CHUNK", 5000)
# Example prediction ids kept per reason, segment and list.
GOVERNANCE_EVIDENCE_EXAMPLES = env_int("GOVERNANCE_EVIDENCE_EXAMPLES", 5)
# The median handling time is taken over the window's most recent HANDLING_SAMPLE decisions.
GOVERNANCE_EVIDENCE_HANDLING_SAMPLE = env_int("GOVERNANCE_EVIDENCE_HANDLING_SAMPLE", 2000)
# Reviewer throughput (final decisions per day) is averaged over this many days.
GOVERNANCE_EVIDENCE_THROUGHPUT_DAYS = env_int("GOVERNANCE_EVIDENCE_THROUGHPUT_DAYS", 14)

# --- Decision delivery (webhooks, see docs/webhooks.md) -------------------------------------
# Callback URLs resolving to private, loopback, link-local or other non-public addresses are
# refused unless this is on (tests and local demos only).
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
# Narrower, for local development (`make run` turns it on): loopback addresses (127.0.0.0/8,
# ::1) are allowed, every other non-public address is still refused.
WEBHOOK_ALLOW_LOOPBACK = env_bool("WEBHOOK_ALLOW_LOOPBACK", False)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5)
# Retries (exponential backoff with jitter) stop this long after a delivery was queued.
WEBHOOK_MAX_AGE_HOURS = env_float("WEBHOOK_MAX_AGE_HOURS", 24)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 30)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 2 * 3600)
WEBHOOK_RETRY_JITTER = env_float("WEBHOOK_RETRY_JITTER", 0.2)
WEBHOOK_FILL_BATCH = env_int("WEBHOOK_FILL_BATCH", 500)
WEBHOOK_SEND_BATCH = env_int("WEBHOOK_SEND_BATCH", 20)
# One send task stops claiming new batches after this; it must end within the task time limit.
WEBHOOK_SEND_BUDGET_SECONDS = env_float("WEBHOOK_SEND_BUDGET_SECONDS", 60)
WEBHOOK_FILL_INTERVAL_SECONDS = env_float("WEBHOOK_FILL_INTERVAL_SECONDS", 10)
WEBHOOK_SEND_INTERVAL_SECONDS = env_float("WEBHOOK_SEND_INTERVAL_SECONDS", 10)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_IS_FILESYSTEM = CELERY_BROKER_URL.startswith("filesystem")
if BROKER_IS_FILESYSTEM:
    # The Celery app makes these folders when it reads this configuration (reviewapp/celery.py):
    # importing settings creates nothing on disk.
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Lower than kombu's 1 s: quicker pickup and quicker shutdown on Ctrl-C.
        "polling_interval": 0.25,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis redelivers an unacknowledged task after this; longer than any task runs.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes the database connection around every task unless this is set;
# reconnecting to PostgreSQL cost more than routing a prediction. Connections are recycled by
# Django's own rules instead (CONN_MAX_AGE, health checks: see reviewapp/tasks.py).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queues by kind of work (README, "Workers per queue"): a slow webhook receiver never delays
# routing, a long replay or rollup never delays a containment. Every task is routed here by
# name (a test holds every registered task to one of these queues); "default" is for none.
CELERY_TASK_QUEUES = tuple(
    Queue(name) for name in ("ingest", "routing", "delivery", "monitors", "maintenance", "default")
)
_TASK_QUEUE = {
    # Published by producers that run Celery themselves (docs/api-input.md).
    "ingest": ["failsafe.ingest_prediction"],
    "routing": ["failsafe.route_predictions", "failsafe.route_model"],
    # Talking to other systems: producers' webhooks, the on-call webhook, email.
    "delivery": [
        "failsafe.delivery_fill",
        "failsafe.delivery_send",
        "failsafe.alert_webhook_send",
        "failsafe.notification_email",
    ],
    # What must act within seconds when a model misbehaves.
    "monitors": ["failsafe.monitors_evaluate", "governance.check_rollback_triggers"],
    # Sweeps, rollups, sealing, replay and evidence, reminders, scheduled applies, quality.
    "maintenance": [
        "failsafe.sweep_inbox",
        "failsafe.seal_audit",
        "failsafe.verify_audit",
        "failsafe.fold_rollups",
        "failsafe.prune_metric_buckets",
        "failsafe.prune_notifications",
        "failsafe.review_count_queue",
        "failsafe.review_expire_leases",
        "failsafe.review_sla_sweep",
        "failsafe.review_wake_deferred",
        "failsafe.learn_feature_profiles",
        "failsafe.containment_reminders",
        "failsafe.governance_compute_evidence",
        "governance.apply_due",
        "governance.expire_requests",
        "governance.ratifications_overdue",
        "catalog.remind_stewards",
        "playbooks.action_item_reminders",
        "quality.check_reviewers",
        "quality.serve_gold",
        # issue 18 (payload): the payload table's partitions and retention.
        "failsafe.payload_partitions_ensure",
        "failsafe.payload_retention_apply",
    ],
}
CELERY_TASK_ROUTES = {
    task: {"queue": queue} for queue, tasks in _TASK_QUEUE.items() for task in tasks
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Catalog stewardship: remind stewards of overdue entries (at most weekly per entry).
    "catalog-remind-stewards": {
        "task": "catalog.remind_stewards",
        "schedule": timedelta(hours=env_float("CATALOG_REMINDER_INTERVAL_HOURS", 24)),
    },
    "sweep-ingest-inbox": {
        "task": "failsafe.sweep_inbox",
        "schedule": timedelta(seconds=INGEST_SWEEP_INTERVAL_SECONDS),
    },
    "seal-audit-log": {
        "task": "failsafe.seal_audit",
        "schedule": timedelta(seconds=AUDIT_SEAL_INTERVAL_SECONDS),
    },
    "verify-audit-log": {
        "task": "failsafe.verify_audit",
        "schedule": timedelta(hours=AUDIT_VERIFY_INTERVAL_HOURS),
    },
    "fill-delivery-outbox": {
        "task": "failsafe.delivery_fill",
        "schedule": timedelta(seconds=WEBHOOK_FILL_INTERVAL_SECONDS),
    },
    "send-due-deliveries": {
        "task": "failsafe.delivery_send",
        "schedule": timedelta(seconds=WEBHOOK_SEND_INTERVAL_SECONDS),
    },
    "review-expire-leases": {
        "task": "failsafe.review_expire_leases",
        "schedule": timedelta(seconds=REVIEW_SWEEP_INTERVAL_SECONDS),
    },
    "review-sla-sweep": {
        "task": "failsafe.review_sla_sweep",
        "schedule": timedelta(seconds=REVIEW_SWEEP_INTERVAL_SECONDS),
    },
    "review-wake-deferred": {
        "task": "failsafe.review_wake_deferred",
        "schedule": timedelta(seconds=REVIEW_SWEEP_INTERVAL_SECONDS),
    },
    "review-count-queue": {
        "task": "failsafe.review_count_queue",
        "schedule": timedelta(seconds=REVIEW_COUNTS_INTERVAL_SECONDS),
    },
    "fold-dashboard-rollups": {
        "task": "failsafe.fold_rollups",
        "schedule": timedelta(seconds=DASHBOARD_FOLD_INTERVAL_SECONDS),
    },
    "prune-notifications": {
        "task": "failsafe.prune_notifications",
        "schedule": timedelta(hours=24),
    },
    "governance-apply-due": {
        "task": "governance.apply_due",
        "schedule": timedelta(seconds=GOVERNANCE_APPLY_INTERVAL_SECONDS),
    },
    "governance-expire-requests": {
        "task": "governance.expire_requests",
        "schedule": timedelta(hours=1),
    },
    "governance-rollback-triggers": {
        "task": "governance.check_rollback_triggers",
        "schedule": timedelta(seconds=GOVERNANCE_TRIGGER_INTERVAL_SECONDS),
    },
    "governance-ratifications-overdue": {
        "task": "governance.ratifications_overdue",
        "schedule": timedelta(minutes=10),
    },
    "failsafe-monitors": {
        "task": "failsafe.monitors_evaluate",
        "schedule": timedelta(seconds=FAILSAFE_MONITOR_INTERVAL_SECONDS),
        # A run older than its interval is pointless: the next one reads newer buckets.
        "options": {"expires": FAILSAFE_MONITOR_INTERVAL_SECONDS},
    },
    "prune-metric-buckets": {
        "task": "failsafe.prune_metric_buckets",
        "schedule": timedelta(minutes=DASHBOARD_METRICS_PRUNE_INTERVAL_MINUTES),
    },
}
# --- Fail-safe: data quality (feature profiles) ---
# Each model's feature profile is learned from its accepted traffic (passed, or accepted by a
# reviewer) of the last FAILSAFE_PROFILE_WINDOW_DAYS, at most FAILSAFE_PROFILE_SAMPLE rows, the
# newest first; with fewer than FAILSAFE_PROFILE_MIN_ROWS no profile is learned (no check).
FAILSAFE_PROFILE_WINDOW_DAYS = env_int("FAILSAFE_PROFILE_WINDOW_DAYS", 7)
FAILSAFE_PROFILE_SAMPLE = env_int("FAILSAFE_PROFILE_SAMPLE", 5000)
FAILSAFE_PROFILE_MIN_ROWS = env_int("FAILSAFE_PROFILE_MIN_ROWS", 200)
# Beat learns every profile again this often; a routing process keeps a model's compiled
# checker this long before reading its profile again (0: read it for every routed chunk).
FAILSAFE_PROFILE_REFRESH_MINUTES = env_float("FAILSAFE_PROFILE_REFRESH_MINUTES", 60)
FAILSAFE_PROFILE_CACHE_SECONDS = env_float("FAILSAFE_PROFILE_CACHE_SECONDS", 60)
CELERY_BEAT_SCHEDULE["failsafe-learn-feature-profiles"] = {
    "task": "failsafe.learn_feature_profiles",
    "schedule": timedelta(minutes=FAILSAFE_PROFILE_REFRESH_MINUTES),
}
# --- end data quality ---
# --- Fail-safe modes (reviewapp/failsafe: reminders) ---
# A containment past its review-by time is reminded to its owner and the leads at most once
# per this many minutes, until it is extended or lifted; beat looks every five minutes.
FAILSAFE_REMINDER_MINUTES = env_float("FAILSAFE_REMINDER_MINUTES", 60)
CELERY_BEAT_SCHEDULE["failsafe-containment-reminders"] = {
    "task": "failsafe.containment_reminders",
    "schedule": timedelta(minutes=5),
}
# --- review quality: people (reviewapp/quality/services/alerts.py) ---
# Fast-accept and gold-accuracy alerts look back this many hours, and need at least this many
# accepted decisions (the reviewer's and their peers') / scored gold answers to say anything.
QUALITY_ALERT_WINDOW_HOURS = env_float("QUALITY_ALERT_WINDOW_HOURS", 24)
QUALITY_ALERT_MIN_DECISIONS = env_int("QUALITY_ALERT_MIN_DECISIONS", 20)
QUALITY_ALERT_MIN_GOLD = env_int("QUALITY_ALERT_MIN_GOLD", 5)
CELERY_BEAT_SCHEDULE["quality-check-reviewers"] = {
    "task": "quality.check_reviewers",
    "schedule": timedelta(minutes=10),
}
# --- end review quality: people ---
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# --- quality: gold --- serve the gold items reviewers have earned (reviewapp/quality)
CELERY_BEAT_SCHEDULE["quality-serve-gold"] = {
    "task": "quality.serve_gold",
    "schedule": timedelta(minutes=1),
}
# --- end quality: gold ---

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "reviewapp.auth.ServiceTokenAuthentication",
        "reviewapp.accounts.auth.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # One body parser (core.parsers) and JSON answers only: every endpoint reads JSON the same
    # strict way, and answers JSON whatever the client's Accept header or principal.
    "DEFAULT_PARSER_CLASSES": ["reviewapp.core.parsers.JSONBodyParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "reviewapp.core.negotiation.JSONFallbackNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "reviewapp.core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "reviewapp.core.api.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "STRICT_JSON": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Failsafe API",
    "DESCRIPTION": "Send flagged predictions for human review and receive the decisions back.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from this site's own static files (drf-spectacular-sidecar): works offline
    # and under the Content-Security-Policy (no CDN, no inline script).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reviewapp.core.schema.add_error_responses",
    ],
}
# --- Fail-safe modes: one schema name for the operating modes (mode, model_mode) ---
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {})["ModelModeEnum"] = (
    "reviewapp.models.ingest.Mode"
)

# --- Playbooks: schema names for their enums (step, trigger and artifact kinds, status) ---
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "PlaybookStatusEnum": "playbooks.models.Playbook.Status",
    "PlaybookStepKindEnum": "playbooks.document.STEP_KIND_VALUES",
    "PlaybookTriggerKindEnum": "playbooks.document.TRIGGER_KINDS",
    "PlaybookArtifactKindEnum": "playbooks.document.ARTIFACT_KIND_VALUES",
    "IncidentStepOutcomeEnum": "playbooks.incidents.steps.OUTCOME_VALUES",
    "IncidentCommunicationKindEnum": "playbooks.incidents.communications.KINDS",
    # governance's document kind keeps the name it had before other "kind" enums existed
    "KindEnum": "reviewapp.governance.models.DocumentKind.values",
    "ActionItemKindEnum": "playbooks.models.ActionItem.Kind",
    "ActionItemStatusEnum": "playbooks.models.ActionItem.Status",
    "PostMortemStatusEnum": "playbooks.models.PostMortem.Status",
})  # fmt: skip

# --- labels (issue 17): the trust columns of the decisions feed ---
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "LabelSelectionEnum": "reviewapp.delivery.selectors.SELECTIONS",
    "LabelAgreementEnum": "reviewapp.delivery.selectors.AGREEMENTS",
})  # fmt: skip
# --- end labels ---

# --- Incidents (playbooks/incidents) ---------------------------------------------------------
# Schema names for the incidents API's enums (issue 16).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "IncidentStatusEnum": "playbooks.models.Incident.Status",
    "IncidentSourceEnum": "playbooks.models.Incident.Source",
    "IncidentSeverityEnum": "playbooks.models.incidents.SEVERITY_CHOICES",
    "IncidentMemberRoleEnum": "playbooks.models.IncidentMember.Role",
    "IncidentEventEnum": "playbooks.incidents.machine.EVENT_LABELS",
})  # fmt: skip
# A monitor's persistent shift that contains or halts a model opens an incident by itself when
# the monitor's severity is this or worse (S1 worst). "" : never automatically.
INCIDENT_AUTO_OPEN_SEVERITY = env_str("INCIDENT_AUTO_OPEN_SEVERITY", "S2")
# The status update a commander owes: the next one is due this many minutes after the last.
INCIDENT_UPDATE_INTERVAL_MINUTES = env_int("INCIDENT_UPDATE_INTERVAL_MINUTES", 60)


# Recovery scoring (playbooks/incidents/scoring.py, docs/incidents/recovery.md). Weights of the
# five cost terms (revenue, customer, regulatory, review, delay), default 1 each; the env var
# holds a JSON object naming any of them.
def _weights(raw: str) -> dict:
    try:
        given = json.loads(raw or "{}")
    except ValueError:
        given = None
    if not isinstance(given, dict):
        raise ImproperlyConfigured(f"INCIDENT_SCORING_WEIGHTS must be a JSON object, got {raw!r}")
    return {"revenue": 1.0, "customer": 1.0, "regulatory": 1.0, "review": 1.0, "delay": 1.0,
            **given}  # fmt: skip


INCIDENT_SCORING_WEIGHTS = _weights(env_str("INCIDENT_SCORING_WEIGHTS", "{}"))
# What an hour of a reviewer costs (operator's currency) and the handling time used when the
# model has no recent decisions to measure it from.
INCIDENT_REVIEWER_COST_PER_HOUR = env_float("INCIDENT_REVIEWER_COST_PER_HOUR", 45.0)
INCIDENT_HANDLING_SECONDS_DEFAULT = env_float("INCIDENT_HANDLING_SECONDS_DEFAULT", 60.0)
# The error rate of automated decisions a path must stay under when the model's routing
# policy sets no max_auto_error_rate; and the latency ceiling (signals.latency_ms).
INCIDENT_TOLERATED_ERROR_RATE = env_float("INCIDENT_TOLERATED_ERROR_RATE", 0.02)
INCIDENT_LATENCY_CEILING_MS = env_float("INCIDENT_LATENCY_CEILING_MS", 500.0)
# Scoring: the horizon costs are summed over, the recent window the figures are read from, and
# the baseline window before the impact started (the model's normal error rate).
INCIDENT_SCORING_HORIZON_HOURS = env_float("INCIDENT_SCORING_HORIZON_HOURS", 24.0)
INCIDENT_SCORING_WINDOW_HOURS = env_int("INCIDENT_SCORING_WINDOW_HOURS", 6)
INCIDENT_BASELINE_DAYS = env_int("INCIDENT_BASELINE_DAYS", 7)
# Expected hours until each recovery path takes effect.
INCIDENT_RECOVERY_HOURS = {
    "policy_rollback": env_float("INCIDENT_RECOVERY_HOURS_POLICY_ROLLBACK", 2.0),
    "raise_threshold": env_float("INCIDENT_RECOVERY_HOURS_RAISE_THRESHOLD", 2.0),
    "contain": env_float("INCIDENT_RECOVERY_HOURS_CONTAIN", 0.1),
    "halt": env_float("INCIDENT_RECOVERY_HOURS_HALT", 0.1),
    "producer_rollback": env_float("INCIDENT_RECOVERY_HOURS_PRODUCER_ROLLBACK", 3.0),
    "fix_forward": env_float("INCIDENT_RECOVERY_HOURS_FIX_FORWARD", 8.0),
    "do_nothing": 0.0,
}
# How far "raise the threshold" raises it; how many earlier policy versions are candidates.
INCIDENT_THRESHOLD_STEP = env_float("INCIDENT_THRESHOLD_STEP", 0.05)
INCIDENT_ROLLBACK_CANDIDATES = env_int("INCIDENT_ROLLBACK_CANDIDATES", 3)
# A simulated rollback (governance's impact replay) is kept in the cache this long, and
# replays at most this many predictions.
INCIDENT_SIMULATION_TTL_SECONDS = env_int("INCIDENT_SIMULATION_TTL_SECONDS", 3600)
INCIDENT_SIMULATION_MAX_PREDICTIONS = env_int("INCIDENT_SIMULATION_MAX_PREDICTIONS", 50_000)
# Re-review of an incident's affected predictions: the items' SLA, and the most queued at once
# (more than that: queue a sample).
INCIDENT_RECHECK_SLA_MINUTES = env_int("INCIDENT_RECHECK_SLA_MINUTES", 24 * 60)
INCIDENT_RECHECK_MAX = env_int("INCIDENT_RECHECK_MAX", 5000)
# How far before detection the impact-start proposal looks in the monitors' buckets.
INCIDENT_IMPACT_LOOKBACK_HOURS = env_int("INCIDENT_IMPACT_LOOKBACK_HOURS", 24)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["HypothesisStatusEnum"] = (
    "playbooks.models.Hypothesis.Status"
)
# --- end incidents ---

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "filters": {"request_id": {"()": "reviewapp.core.middleware.RequestIdLogFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Incident action items: tell each owner once when an item is overdue (daily).
CELERY_BEAT_SCHEDULE["playbooks-action-item-reminders"] = {
    "task": "playbooks.action_item_reminders",
    "schedule": timedelta(hours=24),
}

# --- issue 18 (payload): the payload side table's partitions and retention -----------------
# Monthly partitions of the payload table created ahead of time (PostgreSQL), and each model's
# payload retention policy (a governed model setting) applied with an export first.
PAYLOAD_PARTITIONS_AHEAD = env_int("PAYLOAD_PARTITIONS_AHEAD", 3)
PAYLOAD_RETENTION_CHUNK = env_int("PAYLOAD_RETENTION_CHUNK", 5000)
# Seconds a whole month's DETACH waits for its lock on the payload table before the run
# deletes that month's rows in chunks instead (ingest queues behind a waiting DETACH).
PAYLOAD_DETACH_LOCK_TIMEOUT = env_float("PAYLOAD_DETACH_LOCK_TIMEOUT", 1.0)
PAYLOAD_EXPORT_DIR = env_str("PAYLOAD_EXPORT_DIR", str(VAR_DIR / "exports" / "payload-retention"))
CELERY_BEAT_SCHEDULE["payload-partitions-ensure"] = {
    "task": "failsafe.payload_partitions_ensure",
    "schedule": timedelta(hours=12),
}
CELERY_BEAT_SCHEDULE["payload-retention-apply"] = {
    "task": "failsafe.payload_retention_apply",
    "schedule": timedelta(hours=24),
}
