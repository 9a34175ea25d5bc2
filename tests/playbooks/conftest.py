from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.factories import UserFactory

# The starter catalog's entries the tests and the demo playbooks name (created directly:
# load_catalog takes seconds per test).
STARTER = Path(__file__).resolve().parents[2] / "catalog" / "fixtures" / "starter_catalog.json"
MODES = {
    "currency-mix-drift", "seasonal-concept-drift", "schema-rename-breaks-feature",
    "missing-values-silently-imputed", "overconfident-after-retrain",
    "inference-latency-timeouts", "upstream-enrichment-outage",
    "label-noise-from-chargeback-lag", "feedback-loop-review-labels",
}  # fmt: skip


@pytest.fixture
def catalog(people):
    """Failure modes and mitigation templates as the starter catalog has them."""
    from catalog.models import Category, FailureMode, FailureModeMitigation, MitigationTemplate

    bundle = json.loads(STARTER.read_text())
    category, _ = Category.objects.get_or_create(slug="data-drift", defaults={"name": "Data drift"})
    mitigations = {}
    for m in bundle["mitigations"]:
        mitigations[m["slug"]] = MitigationTemplate.objects.create(
            slug=m["slug"], title=m["title"], kind=m["kind"], summary=m["summary"],
            procedure_steps=m.get("procedure_steps") or [],
            rollback_procedure=m.get("rollback_procedure") or "",
            fallback_plan=m.get("fallback_plan") or "",
        )  # fmt: skip
    for f in bundle["failure_modes"]:
        if f["slug"] not in MODES:
            continue
        fm = FailureMode.objects.create(
            slug=f["slug"], title=f["title"], summary=f["summary"], category=category,
            severity=f["severity"], status="published",
            detection_signals=f.get("detection_signals") or "",
        )  # fmt: skip
        for link in f.get("mitigations") or []:
            FailureModeMitigation.objects.create(
                failure_mode=fm,
                mitigation=mitigations[link["mitigation"]],
                effectiveness=link["effectiveness"],
            )


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
