from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from catalog import services
from catalog.models import CaseStudy, FailureMode, MitigationTemplate, Occurrence
from catalog.transfer import catalog_export, catalog_import
from reviewapp.core.exceptions import ServiceError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
STARTER = Path(__file__).resolve().parents[2] / "catalog" / "fixtures" / "starter_catalog.json"


def _without_identity(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for kind in ("mitigations", "failure_modes", "case_studies"):
        for row in doc[kind]:
            for key in ("created_by", "published_by", "published_at"):
                row.pop(key, None)
    return doc


def _wipe():
    CaseStudy.objects.all().delete()
    FailureMode.objects.all().delete()
    MitigationTemplate.objects.all().delete()


def test_export_import_round_trips_exactly(engineer, editor, editor2, make_fm):
    fm = make_fm(editor, "Currency drift", publish_by=editor2, tags={"segment": ["new markets"]},
                 evidence_links=[{"label": "Dash", "url": "https://example.com/d"}],
                 external_refs=[{"source": "ATLAS", "id": "AML.T0043"}])  # fmt: skip
    make_fm(engineer, "A draft", severity="S4")
    services.mitigation_create(
        user=editor,
        data={
            "title": "Monitor",
            "kind": "detector",
            "summary": "s",
            "procedure_steps": ["a", "b"],
            "expected_ttr_minutes": 30,
        },
    )
    services.failure_mode_link_mitigation(
        failure_mode=fm,
        mitigation_slug="monitor",
        effectiveness="detects",
        user=editor,
        note="per slice",
    )
    services.occurrence_record(
        failure_mode_slug=fm.slug,
        source_type="review_decision",
        source_id="41",
        occurred_at=dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC),
    )
    services.case_study_create(
        user=engineer,
        data={
            "title": "Launch",
            "summary": "s",
            "failure_modes": [fm.slug],
            "occurred_on": "2026-10-01",
            "metrics": [{"name": "x", "before": "1", "after": "2"}],
        },
    )
    first = catalog_export()
    assert len(first["failure_modes"]) == 2 and len(first["failure_modes"][1]["occurrences"]) == 2
    _wipe()
    assert FailureMode.objects.count() == 0
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    catalog_import(data=json.loads(json.dumps(first)), user=admin, restore_status=True)
    second = catalog_export()
    # Content, links, occurrences and (restored by an admin) statuses round-trip; who created
    # and published an entry never does: the importer is the author of what it writes.
    assert _without_identity(second) == _without_identity(first)
    assert {f["created_by"] for f in second["failure_modes"]} == {"root"}
    assert {f["published_by"] for f in second["failure_modes"]} == {"root", ""}
    assert FailureMode.objects.get(slug=fm.slug).occurrence_count == 2


def test_starter_catalog_loads_and_round_trips(editor, editor2, engineer):
    data = json.loads(STARTER.read_text())
    assert len(data["failure_modes"]) >= 15 and len(data["mitigations"]) >= 10
    catalog_import(data=data, restore_status=True)  # as manage.py load_catalog does
    first = catalog_export()
    _wipe()
    catalog_import(data=first, restore_status=True)
    assert _without_identity(catalog_export()) == _without_identity(first)
    assert FailureMode.objects.filter(status="published").count() >= 12


def test_bad_import_reports_every_problem_and_writes_nothing(editor):
    doc = {
        "format": "failsafe-catalog",
        "format_version": 1,
        "mitigations": [{"slug": "ok", "title": "Fine", "kind": "detector", "summary": "s"}],
        "failure_modes": [
            {"slug": "a", "title": "A", "summary": "s", "category": "nope", "severity": "S1"},
            {"slug": "b", "title": "B", "summary": "s", "category": "data-drift", "severity": "S7",
             "mitigations": [{"mitigation": "missing", "effectiveness": "detects"}]},
        ],
    }  # fmt: skip
    with pytest.raises(ServiceError) as exc:
        catalog_import(data=doc)
    assert "failure_modes[0].category" in exc.value.errors
    assert "failure_modes[1].severity" in exc.value.errors
    assert MitigationTemplate.objects.count() == 0 and FailureMode.objects.count() == 0
    with pytest.raises(ServiceError) as exc:
        catalog_import(data={"format": "other"})
    assert "format" in exc.value.errors


def test_api_export_and_import_for_editors(client, editor, engineer, make_fm):
    make_fm(editor)
    client.force_login(engineer)
    assert client.get("/api/v1/catalog").status_code == 403
    client.force_login(editor)
    doc = client.get("/api/v1/catalog").json()
    assert doc["failure_modes"][0]["title"] == "Currency drift"
    doc["failure_modes"][0]["title"] = "Currency drift (imported)"
    response = client.post("/api/v1/catalog", doc, content_type="application/json")
    assert response.status_code == 200, response.content
    assert FailureMode.objects.get().title == "Currency drift (imported)"
    bad = client.post("/api/v1/catalog", {"format": "x"}, content_type="application/json")
    assert bad.status_code == 400 and "format" in bad.json()["errors"]
    assert Occurrence.objects.count() == 0


def test_an_import_stores_text_with_newline_line_endings(editor):
    doc = {
        "format": "failsafe-catalog",
        "format_version": 1,
        "mitigations": [
            {"slug": "ok", "title": "Fine", "kind": "detector", "summary": "one\r\ntwo\rthree"}
        ],
        "failure_modes": [],
    }
    catalog_import(data=doc, user=editor)
    assert MitigationTemplate.objects.get(slug="ok").summary == "one\ntwo\nthree"
