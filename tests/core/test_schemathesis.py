"""A bounded generated run over the whole API schema (/api/schema/) with schemathesis, as a
producer's service token, a pooled reviewer and a lead (sessions), and a committee member and
an engineer (personal API tokens): no answer may be a 5xx, use a status the operation does not
declare, or have a body or content type its schema does not describe, whatever the Accept
header. The requests go through the WSGI app in this process, so they see the test's database
(PostgreSQL in CI).

Generated ids and slugs alone would almost never name a real object, so the run is seeded
with governance objects made through the services (a model with an active policy, a request
in review with ready evidence, a draft, an emergency rollback awaiting ratification), a
playbook, and incidents on card-fraud opened by the lead and by the engineer; every operation
with an ``{id}`` or ``{slug}`` is also generated against them; then each principal
sends each operation's well-formed call once (``happy_calls``: the current evidence hash, the
previously active version), so the answers past the role and state checks are held to the
schema too."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from playbooks import services as playbooks_services
from playbooks.incidents import services as incident_services
from playbooks.incidents.machine import INCIDENT
from playbooks.models import Incident, Playbook
from reviewapp.accounts.services import personal_token_create
from reviewapp.core.audit import Actor
from reviewapp.governance import services as governance
from reviewapp.governance.models import ChangeRequest
from reviewapp.governance.services import documents
from reviewapp.services.accounts import service_account_create
from tests.factories import MLModelFactory, UserFactory, make_policy
from tests.governance.cr_helpers import proposal, submitted
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.django_db]
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Per operation and principal; about 35 operations x 5 principals stay well within two
# minutes on two cores.
EXAMPLES = 10
CSRF = "s" * 32
# What clients ask for (Accept, ?format=): nothing, JSON, a browser, anything, and a type
# the API never answers. The answer is JSON, documented, every time.
NEGOTIATION = [
    (None, None),
    ("application/json", None),
    ("text/html", None),
    ("*/*", None),
    ("application/xml", None),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "xml"),
]


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


def _bearer(user) -> dict[str, dict[str, str]]:
    token = personal_token_create(user=user, name="fuzzing", days=1).token
    return {"headers": {"Authorization": f"Bearer {token}"}}


@dataclasses.dataclass
class Seeds:
    """Real objects for the generated calls to reach: change requests by role (each
    well-formed action has its own, so the order operations run in does not matter) and
    the models' slugs."""

    requests: dict[str, int]
    slugs: tuple[str, ...] = ("card-fraud", "churn")
    # Incidents on card-fraud: opened by the fuzzing lead, and by the fuzzing engineer.
    incidents: tuple[int, ...] = ()

    @property
    def ids(self) -> list[int]:
        return list(self.requests.values())


pooled_reviewer = fx.pooled_reviewer


@pytest.fixture
def principals(fraud_model, pooled_reviewer):
    fx.make_items(fraud_model, 3)
    token = service_account_create(
        name="fuzzing-producer", model_slugs=None, actor=Actor.system("tests")
    ).token
    lead = UserFactory(username="fuzz-lead", roles=["lead"])
    committee = UserFactory(username="fuzz-committee", roles=["committee"])
    engineer = UserFactory(username="fuzz-engineer", roles=["engineer"])
    return {
        "service token": {"headers": {"Authorization": f"Token {token}"}},
        "reviewer": _session_headers(pooled_reviewer),
        "lead": _session_headers(lead),
        "committee": _bearer(committee),
        "engineer": _bearer(engineer),
    }


@pytest.fixture
def seeds(principals, fraud_model) -> Seeds:
    """Made through the services, as people would: the engineer's requests on card-fraud
    (critical: two votes, so one approval leaves it in review), and on churn two policy
    versions, a request the lead's emergency rollback then made stale, and that rollback
    awaiting ratification (the fuzzing lead may roll back once more, to v2)."""
    for name in ("cole", "cleo"):
        UserFactory(username=name, roles=["committee"])
    engineer = UserFactory(username="fuzz-engineer")

    def draft(model: str, minimum: float) -> int:
        return governance.change_request_create(
            model_slug=model,
            user=engineer,
            document=proposal(min_confidence=minimum),
            rationale="A draft to work on.",
        ).pk

    def in_review(minimum: float) -> int:
        return submitted(fraud_model, engineer, document=proposal(min_confidence=minimum))[0].pk

    requests = {
        "approve": in_review(0.75),
        "reject": in_review(0.8),
        "request_changes": in_review(0.81),
        "edit": draft("card-fraud", 0.65),
        "submit": draft("card-fraud", 0.66),
        "withdraw": draft("card-fraud", 0.67),
    }
    churn = MLModelFactory(slug="churn", criticality="medium")
    make_policy(churn)
    make_policy(churn, proposal(min_confidence=0.85))
    requests["rebase"] = draft("churn", 0.6)
    # A playbook for the playbooks API's {slug} operations.
    playbooks_services.playbook_create(
        actor=None, document=_playbook_doc("Fuzz runbook"), check=False
    )
    requests["ratify"] = governance.emergency_rollback(
        model_slug="churn",
        to_version=1,
        reason="The new threshold floods the queue.",
        user=UserFactory(username="fuzz-other-lead", roles=["lead"]),
    ).pk
    # Incidents for the incidents API's {id} operations, opened as people do (the users are
    # read, not made again: the factory would reset the lead's password, ending its session).
    incidents = tuple(
        incident_services.incident_open(
            actor=get_user_model().objects.get(username=name), severity="S2",
            title=f"Fuzz incident by {name}", model_slugs=["card-fraud"],
        ).pk
        for name in ("fuzz-lead", "fuzz-engineer")
    )  # fmt: skip
    return Seeds(requests=requests, incidents=incidents)


def _playbook_doc(title: str) -> dict[str, Any]:
    step = {"phase": "triage", "title": "Look", "role": "commander"}
    return {
        "title": title,
        "owner": "fuzz-engineer",
        "triggers": [{"monitor": "ood-rate", "kind": "shift"}],
        "severities": {s: f"{s} meaning" for s in ("S1", "S2", "S3", "S4")},
        "steps": [{**step, "key": "look"}],
        "templates": {
            "status_update": "{model} is {mode}",
            "stakeholder_notice": "{model}: {impact_so_far}",
            "resolution_notice": "{incident} resolved",
        },
    }


def happy_calls(seeds: Seeds) -> dict[tuple[str, str], Callable[[], dict[str, Any]]]:
    """(method, path) → the arguments of a well-formed call, computed when it is sent (the
    evidence hash and the previously active version as they are by then)."""
    cr = seeds.requests

    def evidence_hash() -> str:
        return ChangeRequest.objects.get(pk=cr["approve"]).evidence_hash or "0" * 64

    def previous_version() -> int:
        previous = documents.previously_active(model_slug="churn", kind="routing_policy")
        return previous.version if previous else 1

    def action(name: str, body: dict[str, Any] | None = None):
        def call() -> dict[str, Any]:
            out: dict[str, Any] = {"path_parameters": {"id": cr[name]}}
            if body is not None:
                out["body"] = body
            return out

        return call

    def playbook_revision() -> dict[str, Any]:
        current = Playbook.objects.get(slug="fuzz-runbook").version
        return {"document": _playbook_doc(f"Fuzz runbook {current + 1}"), "base_version": current}

    def incident(index: int, body: Callable[[Incident], dict[str, Any]] | None = None):
        def call() -> dict[str, Any]:
            pk = seeds.incidents[index]
            out: dict[str, Any] = {"path_parameters": {"id": pk}}
            if body is not None:
                out["body"] = body(Incident.objects.get(pk=pk))
            return out

        return call

    def next_move(row: Incident) -> dict[str, Any]:
        """The next step forward from where the generated calls left the incident."""
        events = [e for e in INCIDENT.events_from(row.status) if e not in ("cancel", "reopen")]
        return {"event": (events or ["cancel"])[0], "version": row.version, "reason": "Fuzzing."}

    base = "/api/v1/change-requests"
    rules = proposal(min_confidence=0.6)
    return {
        ("GET", base): lambda: {"query": {"model": "card-fraud", "status": "in_review"}},
        ("POST", base): lambda: {
            "body": {"model": "card-fraud", "rules": rules, "rationale": "Fewer false alarms."}
        },
        ("GET", base + "/{id}"): action("approve"),
        ("PATCH", base + "/{id}"): action("edit", {"rationale": "Edited."}),
        ("POST", base + "/{id}/submit"): action("submit"),
        ("POST", base + "/{id}/approve"): lambda: {
            "path_parameters": {"id": cr["approve"]},
            "body": {"evidence_hash": evidence_hash()},
        },
        ("POST", base + "/{id}/reject"): action("reject", {"comment": "Too risky."}),
        ("POST", base + "/{id}/request-changes"): action("request_changes", {"comment": "Why?"}),
        ("POST", base + "/{id}/withdraw"): action("withdraw"),
        ("POST", base + "/{id}/rebase"): action("rebase"),
        ("POST", base + "/{id}/comment"): action("approve", {"body": "**Looks** right."}),
        ("POST", base + "/{id}/ratify"): action("ratify", {"comment": "Agreed."}),
        ("GET", "/api/v1/models/{slug}/policy-versions"): lambda: {
            "path_parameters": {"slug": "churn"}
        },
        ("GET", "/api/v1/playbooks"): lambda: {"query": {"monitor": "ood-rate", "limit": 5}},
        ("POST", "/api/v1/playbooks"): lambda: {"body": {"document": _playbook_doc("Another")}},
        ("GET", "/api/v1/playbooks/{slug}"): lambda: {"path_parameters": {"slug": "fuzz-runbook"}},
        ("GET", "/api/v1/playbooks/{slug}/versions"): lambda: {
            "path_parameters": {"slug": "fuzz-runbook"}
        },
        ("POST", "/api/v1/playbooks/{slug}/versions"): lambda: {
            "path_parameters": {"slug": "fuzz-runbook"},
            "body": playbook_revision(),
        },
        ("GET", "/api/v1/incidents"): lambda: {"query": {"status": "open", "model": "card-fraud"}},
        ("POST", "/api/v1/incidents"): lambda: {
            "body": {"title": "Fuzz", "severity": "S3", "models": ["card-fraud"]}
        },
        ("GET", "/api/v1/incidents/{id}"): incident(0),
        ("PATCH", "/api/v1/incidents/{id}"): incident(
            0, lambda row: {"version": row.version, "summary": "Edited."}
        ),
        ("POST", "/api/v1/incidents/{id}/transitions"): incident(1, next_move),
        ("POST", "/api/v1/incidents/{id}/people"): incident(
            0, lambda row: {"action": "commander", "username": "fuzz-lead"}
        ),
        ("POST", "/api/v1/incidents/{id}/links"): incident(
            0, lambda row: {"models": ["card-fraud"]}
        ),
        ("GET", "/api/v1/incidents/{id}/notes"): incident(0),
        ("POST", "/api/v1/incidents/{id}/notes"): incident(0, lambda row: {"body": "Fuzzing."}),
        ("POST", "/api/v1/models/{slug}/emergency-rollback"): lambda: {
            "path_parameters": {"slug": "churn"},
            "body": {"to_version": previous_version(), "reason": "Queue flooded."},
        },
    }


def _strategy(operation, seeds: Seeds):
    """Generated calls, and as many with the path naming a seeded object."""
    names = {p.name for p in operation.path_parameters}
    real = []
    if "id" in names and "change-requests" in operation.path:
        real = [{"id": pk} for pk in seeds.ids]
    elif "slug" in names and operation.path.startswith("/api/v1/models/"):
        real = [{"slug": slug} for slug in seeds.slugs]
    elif "slug" in names and operation.path.startswith("/api/v1/playbooks/"):
        real = [{"slug": "fuzz-runbook"}]
    elif "id" in names and operation.path.startswith("/api/v1/incidents/"):
        real = [{"id": pk} for pk in seeds.incidents]
    if not real:
        return operation.as_strategy()
    return st.one_of(
        operation.as_strategy(),
        st.sampled_from(real).flatmap(lambda path: operation.as_strategy(path_parameters=path)),
    )


@dataclasses.dataclass
class Seen:
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    succeeded: set[tuple[str, str]] = dataclasses.field(default_factory=set)  # (method, path)


def _send(case, auth: dict[str, dict[str, str]], negotiation, seen: Seen) -> None:
    accept, fmt = negotiation
    headers = dict(auth.get("headers", {}))
    if accept is not None:
        headers["Accept"] = accept
    declared = {p.name for p in case.operation.query}
    params = {"format": fmt} if fmt is not None and "format" not in declared else None
    response = case.call(headers=headers, cookies=auth.get("cookies"), params=params)
    seen.statuses[response.status_code] += 1
    if response.status_code < 300:
        seen.succeeded.add((case.method.upper(), case.operation.path))
    case.validate_response(response, checks=CHECKS)


def _run(operation, auth: dict[str, dict[str, str]], seeds: Seeds, seen: Seen) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, seeds), negotiation=st.sampled_from(NEGOTIATION))
    def run(case, negotiation):
        _send(case, auth, negotiation, seen)

    run()


def test_generated_requests_get_documented_answers(principals, seeds):
    failures: list[str] = []
    seen = Seen()
    calls = happy_calls(seeds)
    with wsgi_app() as app:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 30
        keys = {(op.method.upper(), op.path) for op in operations}
        assert set(calls) <= keys, set(calls) - keys
        for name, auth in principals.items():
            for index, operation in enumerate(operations):
                key = (operation.method.upper(), operation.path)
                try:
                    _run(operation, auth, seeds, seen)
                    if key in calls:
                        case = operation.Case(**calls[key]())
                        negotiation = NEGOTIATION[index % len(NEGOTIATION)]
                        _send(case, auth, negotiation, seen)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all
                    failures.append(f"{name} {operation.label}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)
    # The run reached the endpoints' work, not only their doors,
    statuses = seen.statuses
    assert statuses[200] > 100 and statuses[400] > 50 and statuses[401] < 50, statuses
    # and every governance operation got past the role and state checks on a real object
    # at least once (a generated call, or the well-formed one).
    assert set(calls) <= seen.succeeded, set(calls) - seen.succeeded
