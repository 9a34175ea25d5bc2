"""A producer's service token reaches ingestion and its own predictions' decisions, nothing else.

Every API route is listed here with what a service token gets, and a test fails when a route
is added without being listed, so a new endpoint cannot be left open to producers by accident.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

ACTIONS = (
    "submit",
    "approve",
    "reject",
    "request-changes",
    "withdraw",
    "rebase",
    "comment",
    "ratify",
)
# route -> (method, path, status a service token gets)
SERVICE_TOKEN_ANSWERS = {
    # ingestion and the producer's own predictions
    "api/v1/predictions": [
        ("post", "/api/v1/predictions", 400),
        ("get", "/api/v1/predictions?model=card-fraud&external_id=none", 404),
    ],
    "api/v1/predictions/batch": [("post", "/api/v1/predictions/batch", 400)],
    "api/v1/predictions/<int:pk>": [("get", "/api/v1/predictions/999999", 404)],
    # the replay of its own predictions' routing (another model's reads as missing)
    "api/v1/predictions/<int:pk>/replay": [("get", "/api/v1/predictions/999999/replay", 404)],
    "api/v1/models": [("get", "/api/v1/models", 200)],
    # the decisions on its own models: the pull side of webhooks (docs/webhooks.md)
    "api/v1/decisions": [("get", "/api/v1/decisions", 200)],
    "api/v1/decisions/export": [("get", "/api/v1/decisions/export", 200)],
    # the review queue: people only
    "api/v1/queue/items": [("get", "/api/v1/queue/items", 403)],
    "api/v1/queue/claim": [("post", "/api/v1/queue/claim", 403)],
    "api/v1/queue/items/<int:item_id>": [("get", "/api/v1/queue/items/1", 403)],
    "api/v1/queue/items/<int:item_id>/decide": [("post", "/api/v1/queue/items/1/decide", 403)],
    "api/v1/queue/items/<int:item_id>/release": [("post", "/api/v1/queue/items/1/release", 403)],
    "api/v1/queue/items/<int:item_id>/renew": [("post", "/api/v1/queue/items/1/renew", 403)],
    "api/v1/queue/decisions/<int:decision_id>/undo": [
        ("post", "/api/v1/queue/decisions/1/undo", 403)
    ],
    # the catalog: people only
    "api/v1/failure-modes": [("get", "/api/v1/failure-modes", 403)],
    "api/v1/failure-mode-facets": [("get", "/api/v1/failure-mode-facets", 403)],
    "api/v1/failure-modes/<slug:slug>": [("get", "/api/v1/failure-modes/x", 403)],
    "api/v1/catalog": [("get", "/api/v1/catalog", 403), ("post", "/api/v1/catalog", 403)],
    # --- quality: gold --- people only; reviewers too get 403 (issue 17)
    "api/v1/quality/gold": [
        ("get", "/api/v1/quality/gold", 403),
        ("post", "/api/v1/quality/gold", 403),
    ],
    "api/v1/quality/gold/<int:pk>": [("get", "/api/v1/quality/gold/1", 403)],
    "api/v1/quality/gold/<int:pk>/retire": [("post", "/api/v1/quality/gold/1/retire", 403)],
    # --- end quality: gold ---
    # fail-safe alerts: people only (issue 14)
    "api/v1/alerts": [("get", "/api/v1/alerts", 403)],
    # review quality, people: leads only
    "api/v1/quality/alerts": [("get", "/api/v1/quality/alerts", 403)],
    "api/v1/quality/alerts/<int:pk>/resolve": [("post", "/api/v1/quality/alerts/1/resolve", 403)],
    "api/v1/quality/pools/<slug:model_slug>/members/<int:user_id>/pause": [
        ("post", "/api/v1/quality/pools/card-fraud/members/1/pause", 403)
    ],
    "api/v1/quality/pools/<slug:model_slug>/members/<int:user_id>/resume": [
        ("post", "/api/v1/quality/pools/card-fraud/members/1/resume", 403)
    ],
    "api/v1/alerts/<int:pk>/acknowledge": [("post", "/api/v1/alerts/1/acknowledge", 403)],
    # --- double: adjudication, leads only (issue 17) ---
    "api/v1/quality/adjudications": [("get", "/api/v1/quality/adjudications", 403)],
    "api/v1/quality/adjudications/<int:pk>": [("get", "/api/v1/quality/adjudications/1", 403)],
    "api/v1/quality/adjudications/<int:pk>/adjudicate": [
        ("post", "/api/v1/quality/adjudications/1/adjudicate", 403)
    ],
    # --- end double ---
    # governance: people only (issue 13)
    "api/v1/change-requests": [
        ("get", "/api/v1/change-requests", 403),
        ("post", "/api/v1/change-requests", 403),
    ],
    "api/v1/change-requests/<int:pk>": [
        ("get", "/api/v1/change-requests/1", 403),
        ("patch", "/api/v1/change-requests/1", 403),
    ],
    **{
        f"api/v1/change-requests/<int:pk>/{action}": [
            ("post", f"/api/v1/change-requests/1/{action}", 403)
        ]
        for action in ACTIONS
    },
    "api/v1/models/<slug:slug>/policy-versions": [
        ("get", "/api/v1/models/card-fraud/policy-versions", 403)
    ],
    "api/v1/models/<slug:slug>/emergency-rollback": [
        ("post", "/api/v1/models/card-fraud/emergency-rollback", 403)
    ],
    # --- review quality, scorecards: people only ---
    "api/v1/quality/agreement": [("get", "/api/v1/quality/agreement", 403)],
    "api/v1/quality/reviewers/<int:user_id>/scorecard": [
        ("get", "/api/v1/quality/reviewers/1/scorecard", 403)
    ],
    # --- fail-safe modes: a token reads its own models' mode; people switch it ---
    "api/v1/models/<slug:slug>": [("get", "/api/v1/models/card-fraud", 200)],
    "api/v1/models/<slug:slug>/mode": [("post", "/api/v1/models/card-fraud/mode", 403)],
    # --- playbooks: people only (the roles read, engineers and leads write) ---
    "api/v1/playbooks": [("get", "/api/v1/playbooks", 403), ("post", "/api/v1/playbooks", 403)],
    "api/v1/playbooks/<slug:slug>": [("get", "/api/v1/playbooks/any", 403)],
    "api/v1/playbooks/<slug:slug>/versions": [
        ("get", "/api/v1/playbooks/any/versions", 403),
        ("post", "/api/v1/playbooks/any/versions", 403),
    ],
    # --- incidents: people only (issue 16; the same 403 before any incident is looked up) ---
    "api/v1/incidents": [("get", "/api/v1/incidents", 403), ("post", "/api/v1/incidents", 403)],
    "api/v1/incidents/<int:pk>": [
        ("get", "/api/v1/incidents/1", 403),
        ("patch", "/api/v1/incidents/1", 403),
    ],
    "api/v1/incidents/<int:pk>/transitions": [("post", "/api/v1/incidents/1/transitions", 403)],
    "api/v1/incidents/<int:pk>/people": [("post", "/api/v1/incidents/1/people", 403)],
    "api/v1/incidents/<int:pk>/links": [("post", "/api/v1/incidents/1/links", 403)],
    "api/v1/incidents/metrics": [("get", "/api/v1/incidents/metrics", 403)],
    "api/v1/incidents/<int:pk>/affected": [("get", "/api/v1/incidents/1/affected", 403)],
    "api/v1/incidents/<int:pk>/rechecks": [("post", "/api/v1/incidents/1/rechecks", 403)],
    "api/v1/incidents/<int:pk>/hypotheses": [
        ("get", "/api/v1/incidents/1/hypotheses", 403),
        ("post", "/api/v1/incidents/1/hypotheses", 403),
    ],
    "api/v1/incidents/<int:pk>/hypotheses/<int:hid>": [
        ("patch", "/api/v1/incidents/1/hypotheses/1", 403)
    ],
    "api/v1/incidents/<int:pk>/recovery": [
        ("get", "/api/v1/incidents/1/recovery", 403),
        ("post", "/api/v1/incidents/1/recovery", 403),
    ],
    "api/v1/incidents/<int:pk>/recovery/simulations": [
        ("post", "/api/v1/incidents/1/recovery/simulations", 403)
    ],
    "api/v1/incidents/<int:pk>/timeline": [("get", "/api/v1/incidents/1/timeline", 403)],
    "api/v1/incidents/<int:pk>/checklist": [("get", "/api/v1/incidents/1/checklist", 403)],
    "api/v1/incidents/<int:pk>/steps": [("post", "/api/v1/incidents/1/steps", 403)],
    "api/v1/incidents/<int:pk>/playbook": [("post", "/api/v1/incidents/1/playbook", 403)],
    "api/v1/incidents/<int:pk>/communications": [
        ("get", "/api/v1/incidents/1/communications", 403),
        ("post", "/api/v1/incidents/1/communications", 403),
    ],
    "api/v1/incidents/<int:pk>/notes": [
        ("get", "/api/v1/incidents/1/notes", 403),
        ("post", "/api/v1/incidents/1/notes", 403),
    ],
    # --- incidents' post-mortems and action items: people only ---
    "api/v1/incidents/<int:pk>/postmortem": [
        ("get", "/api/v1/incidents/1/postmortem", 403),
        ("put", "/api/v1/incidents/1/postmortem", 403),
    ],
    "api/v1/incidents/<int:pk>/postmortem/publish": [
        ("post", "/api/v1/incidents/1/postmortem/publish", 403),
    ],
    "api/v1/incidents/<int:pk>/action-items": [
        ("get", "/api/v1/incidents/1/action-items", 403),
        ("post", "/api/v1/incidents/1/action-items", 403),
    ],
    "api/v1/incidents/<int:pk>/action-items/<int:aid>": [
        ("patch", "/api/v1/incidents/1/action-items/1", 403),
    ],
    "api/v1/action-items": [("get", "/api/v1/action-items", 403)],
}


def _routes(resolver=None, prefix: str = "") -> list[str]:
    out = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            out += _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            out.append(prefix + str(entry.pattern))
    return out


def test_every_api_route_is_listed_with_what_a_service_token_gets():
    api_routes = {r for r in _routes() if r.startswith("api/v1/")}
    assert api_routes == set(SERVICE_TOKEN_ANSWERS)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [case for cases in SERVICE_TOKEN_ANSWERS.values() for case in cases],
)
def test_a_service_token_gets(api, method, path, status):
    body = {} if method in ("post", "patch") else None
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == status, response.content
