from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core.management import call_command

from tests.factories import UserFactory


@pytest.fixture
def catalog(db):
    """The starter catalog (its failure modes are what playbooks link to)."""
    call_command("load_catalog", verbosity=0)


@pytest.fixture
def people(db) -> dict[str, Any]:
    return {
        "reviewer": UserFactory(username="ana", roles=["reviewer"]),
        "lead": UserFactory(username="lee", roles=["lead"]),
        "committee": UserFactory(username="cora", roles=["committee"]),
        "catalog_editor": UserFactory(username="edith", roles=["catalog_editor"]),
        "engineer": UserFactory(username="sam", roles=["engineer"]),
        "nobody": UserFactory(username="noone", roles=[]),
    }


SEVERITIES = {"S1": "worst", "S2": "bad", "S3": "some", "S4": "little"}
TEMPLATES = {
    "status_update": "[{severity}] {model} is {mode}. Next update {next_update_at}.",
    "stakeholder_notice": "{model}: {impact_so_far}",
    "resolution_notice": "Resolved {incident} on {model}.",
}


def step(key: str, phase: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "phase": phase, "title": f"Do {key}", "role": "commander", **extra}


def valid_doc(**changes: Any) -> dict[str, Any]:
    doc = {
        "title": "Drift runbook",
        "summary": "When inputs drift.",
        "owner": "sam",
        "failure_modes": ["currency-mix-drift"],
        "triggers": [{"monitor": "ood-rate", "kind": "shift"}],
        "severities": dict(SEVERITIES),
        "steps": [
            step("ack", "triage", artifacts=[{"kind": "link", "label": "The alert"}]),
            step(
                "what",
                "evidence",
                kind="decision",
                branches=[
                    {"label": "data problem", "target": "contain"},
                    {"label": "model problem", "target": "retrain"},
                ],
            ),
            step("contain", "containment", condition="severity >= S2", next="verify"),
            step("retrain", "remediation", role="participant"),
            step("verify", "verification"),
        ],
        "templates": dict(TEMPLATES),
    }
    doc.update(changes)
    return copy.deepcopy(doc)


@pytest.fixture
def doc() -> dict[str, Any]:
    return valid_doc()
