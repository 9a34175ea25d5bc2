"""A bounded generated run over the whole API schema (/api/schema/) with schemathesis, as a
producer's service token, a pooled reviewer and a lead: no answer may be a 5xx, use a
status the operation does not declare, or have a body or content type its schema does not
describe. The requests go through the WSGI app in this process, so they see the test's
database (PostgreSQL in CI)."""

from __future__ import annotations

import collections
import contextlib

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reviewapp.core.audit import Actor
from reviewapp.services.accounts import service_account_create
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.django_db]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and principal; about 20 operations x 3 principals stay well within two
# minutes on two cores.
EXAMPLES = 10
CSRF = "s" * 32


@contextlib.contextmanager
def wsgi_app():
    """The project's WSGI app, keeping the test's connection (and its transaction) open
    between requests, as Django's test client does (which reconnects the signals after each
    of its own requests, so no test client request may run inside this block)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _session_headers(user) -> dict[str, dict[str, str]]:
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    return {"cookies": {"sessionid": session, "csrftoken": CSRF}, "headers": {"X-CSRFToken": CSRF}}


@pytest.fixture
def principals(fraud_model, pooled_reviewer):
    fx.make_items(fraud_model, 3)
    token = service_account_create(
        name="fuzzing-producer", model_slugs=None, actor=Actor.system("tests")
    ).token
    lead = UserFactory(username="fuzz-lead", roles=["lead"])
    return {
        "service token": {"headers": {"Authorization": f"Token {token}"}},
        "reviewer": _session_headers(pooled_reviewer),
        "lead": _session_headers(lead),
    }


pooled_reviewer = fx.pooled_reviewer


def _run(operation, auth: dict[str, dict[str, str]], seen: collections.Counter) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(**auth)
        seen[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()


def test_generated_requests_get_documented_answers(principals):
    failures: list[str] = []
    seen: collections.Counter = collections.Counter()
    with wsgi_app() as app:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        for name, auth in principals.items():
            for operation in operations:
                try:
                    _run(operation, auth, seen)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all
                    failures.append(f"{name} {operation.label}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
    # The run reached the endpoints' work, not only their doors.
    assert seen[200] > 100 and seen[400] > 50 and seen[401] < 50, seen
