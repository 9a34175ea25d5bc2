from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.services.accounts import service_account_create

from .factories import MLModelFactory, UserFactory, make_policy

# --- read replica (issue 18) ---
_TRANSACTIONAL_FIXTURES = {"transactional_db", "live_server"}
_DJANGO_DB_ARGS = ("transaction", "reset_sequences", "databases", "serialized_rollback")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Transactional tests may also use the read replica's alias (test settings: a mirror of
    the primary, core/db_router.py). Their reads in a replica scope, and the live server's and
    other threads', open the replica's connection, which Django refuses for an alias the test
    does not name. Not the other tests: Django's TestCase opens its wrapping transaction on
    every alias it names, and on SQLite a second BEGIN IMMEDIATE on the same file waits for the
    first; inside that wrapping transaction the router reads the primary anyway."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        kwargs = dict(zip(_DJANGO_DB_ARGS, marker.args, strict=False)) if marker else {}
        kwargs.update(marker.kwargs if marker else {})
        fixtures = set(getattr(item, "fixturenames", ()))
        if not (kwargs.get("transaction") or _TRANSACTIONAL_FIXTURES & fixtures):
            continue
        databases = kwargs.get("databases")
        if databases == "__all__" or (databases is not None and "replica" in databases):
            continue
        kwargs["databases"] = [*(databases or ["default"]), "replica"]
        item.add_marker(pytest.mark.django_db(**kwargs), append=False)


# --- end read replica ---


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The SQLite test database lives under VAR_DIR; settings no longer make folders on import."""
    from django.conf import settings

    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def fraud_model(db):
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"], criticality="critical")
    make_policy(model)
    return model


@pytest.fixture
def service_token(db, fraud_model):
    """A token allowed for every model."""
    return service_account_create(
        name="producer", model_slugs=None, actor=Actor.system("tests")
    ).token


@pytest.fixture
def api(service_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {service_token}")
    return client


@pytest.fixture
def reviewer(db):
    return UserFactory(username="ana", roles=["reviewer"])


@pytest.fixture
def lead(db):
    return UserFactory(username="lee", roles=["lead"])


@pytest.fixture
def engineer(db):
    return UserFactory(username="sam", roles=["engineer"])


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with empty caches: Django's (queue counts, rate figures) and the
    per-process ones keyed by model slug, which would otherwise carry a profile or a shadow
    proposal learned in one test into the next test's model of the same slug."""
    from django.core.cache import cache

    from reviewapp.failsafe.services.profiles import checkers_forget
    from reviewapp.governance.shadow import clear_cache
    from reviewapp.services.ingest import route_coalescer_reset

    cache.clear()
    route_coalescer_reset()
    checkers_forget()
    clear_cache()
    yield


@pytest.fixture
def eager():
    """Celery tasks run in this process when published (no broker, errors raised): for tests
    of what a task's body does after a commit, never the only test of a pipeline."""
    from reviewapp import celery_app

    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved
