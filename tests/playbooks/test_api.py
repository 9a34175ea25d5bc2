"""/api/v1/playbooks: the same permissions as the pages, limit/offset lists, field errors,
new versions from a base version (409 when stale); every write audited."""

import pytest
from rest_framework.test import APIClient

from playbooks import services
from playbooks.models import Playbook, PlaybookVersion
from reviewapp.accounts.services import personal_token_create
from reviewapp.core.models import AuditEvent

from .conftest import valid_doc

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    c = APIClient()
    token = personal_token_create(user=user, name="api", days=1).token
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return c


@pytest.fixture
def playbook(catalog, people):
    return services.playbook_create(actor=people["engineer"], document=valid_doc())


@pytest.mark.parametrize("role", ["reviewer", "committee", "catalog_editor", "engineer", "lead"])
def test_every_role_reads(playbook, people, role):
    c = as_user(people[role])
    r = c.get("/api/v1/playbooks?limit=1")
    assert r.status_code == 200
    assert r.json()["count"] == 1
    (row,) = r.json()["results"]
    assert row["slug"] == "drift-runbook" and row["failure_modes"] == ["currency-mix-drift"]
    d = c.get("/api/v1/playbooks/drift-runbook").json()
    assert d["version"] == 1 and d["document"]["steps"][1]["kind"] == "decision"
    assert c.get("/api/v1/playbooks/drift-runbook/versions").json()["count"] == 1


def test_someone_without_a_role_and_a_service_token_read_nothing(playbook, people, api):
    assert as_user(people["nobody"]).get("/api/v1/playbooks").status_code == 403
    assert api.get("/api/v1/playbooks").status_code == 403
    assert api.get("/api/v1/playbooks/drift-runbook").status_code == 403


@pytest.mark.parametrize("role", ["reviewer", "committee", "catalog_editor"])
def test_readers_may_not_write(playbook, people, role):
    c = as_user(people[role])
    r = c.post("/api/v1/playbooks", {"document": valid_doc(title="X")}, format="json")
    assert r.status_code == 403
    r = c.post(
        "/api/v1/playbooks/drift-runbook/versions",
        {"document": valid_doc(title="X"), "base_version": 1},
        format="json",
    )
    assert r.status_code == 403
    assert PlaybookVersion.objects.count() == 1


def test_create_and_revise(catalog, people):
    c = as_user(people["lead"])
    r = c.post(
        "/api/v1/playbooks",
        {"document": valid_doc(), "note": "from on-call tooling"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert r.json()["saved"]["author"] == "lee" and r.json()["status"] == "draft"
    r = c.post(
        "/api/v1/playbooks/drift-runbook/versions",
        {"document": valid_doc(title="Drift runbook 2"), "base_version": 1},
        format="json",
    )
    assert r.status_code == 201 and r.json()["version"] == 2
    old = c.get("/api/v1/playbooks/drift-runbook?version=1").json()
    assert old["title"] == "Drift runbook" and old["current_version"] == 2
    stale = c.post(
        "/api/v1/playbooks/drift-runbook/versions",
        {"document": valid_doc(title="Drift runbook 3"), "base_version": 1},
        format="json",
    )
    assert stale.status_code == 409 and "base_version" in stale.json()["errors"]
    verbs = list(
        AuditEvent.objects.filter(verb__startswith="playbooks.").values_list("verb", flat=True)
    )
    assert verbs == ["playbooks.playbook.created", "playbooks.playbook.revised"]


def test_bad_input_names_the_field_and_changes_nothing(catalog, people):
    c = as_user(people["engineer"])
    doc = valid_doc()
    doc["steps"][2]["condition"] = "severity >= S7"
    doc["steps"][0]["role"] = {"not": "a role"}
    doc["templates"]["resolution_notice"] = "{model.__class__}"
    r = c.post("/api/v1/playbooks", {"document": doc, "extra": 1}, format="json")
    assert r.status_code == 400
    assert r.json()["errors"] == {"extra": ["Unknown field: this endpoint does not take it."]}
    r = c.post("/api/v1/playbooks", {"document": doc}, format="json")
    errors = r.json()["errors"]
    assert r.status_code == 400
    assert {"steps[2].condition", "steps[0].role", "templates.resolution_notice"} <= set(errors)
    for bad in ([], "text", {"steps": [[]]}, {"steps": [{"branches": [{"target": []}]}]}):
        assert c.post("/api/v1/playbooks", {"document": bad}, format="json").status_code == 400
    assert not Playbook.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["?status=lost", "?offset=-1", "?q=%00", "?version=0", "?version=abc"],
)
def test_bad_parameters_are_400(playbook, people, query):
    c = as_user(people["reviewer"])
    path = "/api/v1/playbooks/drift-runbook" if "version" in query else "/api/v1/playbooks"
    assert c.get(path + query).status_code == 400


def test_unknown_playbook_and_version_are_404(playbook, people):
    c = as_user(people["reviewer"])
    assert c.get("/api/v1/playbooks/nope").status_code == 404
    assert c.get("/api/v1/playbooks/drift-runbook?version=5").json()["errors"] == {
        "version": ["This playbook has no version 5."]
    }


def test_filters(playbook, catalog, people):
    c = as_user(people["reviewer"])
    assert c.get("/api/v1/playbooks?failure_mode=currency-mix-drift").json()["count"] == 1
    assert c.get("/api/v1/playbooks?monitor=silence").json()["count"] == 0
    assert c.get("/api/v1/playbooks?status=draft&q=drift").json()["count"] == 1
