"""Playbook pages as each role: read, write, publish; the form's errors beside the field; the
catalog's one-click draft; the diff between versions."""

import pytest
from django.test import Client

from playbooks import services
from playbooks.models import Playbook, PlaybookVersion
from reviewapp.core.models import AuditEvent

from .conftest import valid_doc

pytestmark = pytest.mark.django_db

READERS = ["reviewer", "committee", "catalog_editor", "engineer", "lead"]
WRITERS = ["engineer", "lead"]


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def playbook(catalog, people):
    p = services.playbook_create(actor=people["engineer"], document=valid_doc())
    services.playbook_revise(
        playbook=p,
        actor=people["engineer"],
        document=valid_doc(title="Drift runbook v2"),
        base_version=1,
        note="renamed",
    )
    p.refresh_from_db()
    return p


def form_data(doc, *, base_version=None, note=""):
    data = {
        "title": doc["title"],
        "summary": doc["summary"],
        "owner": doc["owner"],
        "failure_modes": doc["failure_modes"],
        "triggers": "\n".join(f"{t['monitor']} {t['kind']}" for t in doc["triggers"]),
        "note": note,
        "base_version": "" if base_version is None else str(base_version),
        "steps-TOTAL_FORMS": str(len(doc["steps"]) + 1),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "60",
    }
    for s, text in doc["severities"].items():
        data[f"severity_{s}"] = text
    for k, text in doc["templates"].items():
        data[f"template_{k}"] = text
    for i, step in enumerate(doc["steps"]):
        p = f"steps-{i}-"
        data.update({
            p + "key": step["key"], p + "phase": step["phase"], p + "title": step["title"],
            p + "role": step["role"], p + "kind": step.get("kind", "task"),
            p + "instructions": step.get("instructions", ""),
            p + "condition": step.get("condition", ""), p + "next": step.get("next", ""),
            p + "escalate_to": step.get("escalate_to", ""),
            p + "artifacts": "\n".join(f"{a['kind']}: {a['label']}" for a in step.get("artifacts", [])),
            p + "branches": "\n".join(f"{b['label']} -> {b['target']}" for b in step.get("branches", [])),
        })  # fmt: skip
    # the blank extra form
    n = len(doc["steps"])
    data.update(
        {f"steps-{n}-phase": "triage", f"steps-{n}-role": "commander", f"steps-{n}-kind": "task"}
    )
    return data


@pytest.mark.parametrize("role", READERS)
def test_every_role_reads_list_detail_and_diff(playbook, people, role):
    c = client_for(people[role])
    page = c.get("/playbooks/")
    assert page.status_code == 200 and "Drift runbook v2" in page.content.decode()
    detail = c.get(f"/playbooks/{playbook.slug}/")
    html = detail.content.decode()
    assert detail.status_code == 200
    assert "Only when severity is S2 or more severe" in html
    assert (
        "data problem" in html and "step 3: Do contain" in html
    )  # a branch, drawn with its target
    assert ("Edit (makes a new version)" in html) is (role in WRITERS)
    assert c.get(f"/playbooks/{playbook.slug}/?version=1").status_code == 200
    diff = c.get(f"/playbooks/{playbook.slug}/diff/?from=1&to=2")
    assert diff.status_code == 200 and "Drift runbook v2" in diff.content.decode()


def test_someone_without_a_role_reads_nothing(playbook, people):
    c = client_for(people["nobody"])
    assert c.get("/playbooks/").status_code == 403
    assert c.get(f"/playbooks/{playbook.slug}/").status_code == 403


def test_an_old_version_says_so_and_shows_what_it_said(playbook, people):
    html = client_for(people["reviewer"]).get(f"/playbooks/{playbook.slug}/?version=1")
    text = html.content.decode()
    assert "You are reading version 1" in text and "<h1>Drift runbook</h1>" in text


@pytest.mark.parametrize("url", ["?version=9", "?version=x"])
def test_unknown_versions(playbook, people, url):
    r = client_for(people["reviewer"]).get(f"/playbooks/{playbook.slug}/{url}")
    assert r.status_code == (404 if url == "?version=9" else 200)


def test_list_filters_by_failure_mode_trigger_and_text(playbook, catalog, people):
    other = valid_doc(
        title="Outage", failure_modes=["inference-latency-timeouts"], triggers=[{"monitor": "silence", "kind": "any"}]
    )  # fmt: skip
    services.playbook_create(actor=people["lead"], document=other)
    c = client_for(people["reviewer"])
    by_mode = c.get("/playbooks/?failure_mode=inference-latency-timeouts").content.decode()
    assert "Outage" in by_mode and "Drift runbook v2" not in by_mode
    by_monitor = c.get("/playbooks/?monitor=ood-rate").content.decode()
    assert "Drift runbook v2" in by_monitor and ">Outage<" not in by_monitor
    assert "Outage" in c.get("/playbooks/?q=outa").content.decode()
    assert c.get("/playbooks/?q=%00").status_code == 400


@pytest.mark.parametrize("role", ["reviewer", "committee", "catalog_editor"])
def test_readers_may_not_write(playbook, people, role):
    c = client_for(people[role])
    assert c.get("/playbooks/new/").status_code == 403
    assert c.get(f"/playbooks/{playbook.slug}/edit/").status_code == 403
    assert c.post("/playbooks/new/", form_data(valid_doc(title="X"))).status_code == 403
    assert c.post(f"/playbooks/{playbook.slug}/publish/").status_code == 403
    assert (
        c.post("/playbooks/from-catalog/", {"failure_mode": "currency-mix-drift"}).status_code
        == 403
    )
    assert Playbook.objects.count() == 1


@pytest.mark.parametrize("role", WRITERS)
def test_writers_create_edit_and_publish(catalog, people, role):
    c = client_for(people[role])
    assert c.get("/playbooks/new/").status_code == 200
    r = c.post("/playbooks/new/", form_data(valid_doc(title="Made on the page")))
    assert r.status_code == 302, r.content.decode()[:2000]
    p = Playbook.objects.get()
    assert p.current.document["steps"][1]["branches"][0] == {
        "label": "data problem",
        "target": "contain",
    }
    edit = c.get(f"/playbooks/{p.slug}/edit/")
    assert edit.status_code == 200 and "Do contain" in edit.content.decode()
    doc = valid_doc(title="Made on the page")
    doc["steps"][0]["instructions"] = "Now with **instructions**."
    r = c.post(f"/playbooks/{p.slug}/edit/", form_data(doc, base_version=1, note="instructions"))
    assert r.status_code == 302
    p.refresh_from_db()
    assert p.version == 2
    assert c.post(f"/playbooks/{p.slug}/publish/", {"base_version": "2"}).status_code == 302
    p.refresh_from_db()
    assert p.status == "active"
    assert "<strong>instructions</strong>" in c.get(p.get_absolute_url()).content.decode()


def test_form_errors_stand_beside_the_field_and_nothing_is_saved(catalog, people):
    c = client_for(people["engineer"])
    doc = valid_doc()
    doc["steps"][2]["condition"] = "severity >= S9"
    doc["steps"][1]["branches"][1]["target"] = "nowhere"
    doc["templates"]["status_update"] = "{modle} is down"
    r = c.post("/playbooks/new/", form_data(doc))
    assert r.status_code == 400
    html = r.content.decode()
    assert "Nothing was saved." in html
    assert "“S9” is not a value of severity" in html
    assert "No step has the key “nowhere”" in html
    assert "Unknown placeholder {modle}" in html
    assert 'id="id_steps-2-condition-error"' in html
    assert 'id="id_template_status_update-error"' in html
    assert not Playbook.objects.exists()


def test_a_stale_edit_on_the_page_is_refused_with_the_reason(playbook, people):
    c = client_for(people["lead"])
    r = c.post(
        f"/playbooks/{playbook.slug}/edit/", form_data(valid_doc(title="Late"), base_version=1)
    )
    assert r.status_code == 400
    assert "Someone saved version 2 while you edited version 1" in r.content.decode()
    assert PlaybookVersion.objects.filter(playbook=playbook).count() == 2


def test_the_catalog_offers_a_one_click_draft_to_writers_only(catalog, people):
    fm_url = "/catalog/f/currency-mix-drift/"
    writer_page = client_for(people["engineer"]).get(fm_url).content.decode()
    assert "Draft a playbook from this" in writer_page and 'name="failure_mode"' in writer_page
    assert "Playbooks for this (0)" in writer_page
    reader_page = client_for(people["reviewer"]).get(fm_url).content.decode()
    assert (
        "Draft a playbook from this" not in reader_page and "Playbooks for this (0)" in reader_page
    )
    m_page = (
        client_for(people["lead"]).get("/catalog/mitigations/safe-fallback-hold/").content.decode()
    )
    assert 'name="mitigation" value="safe-fallback-hold"' in m_page

    r = client_for(people["engineer"]).post(
        "/playbooks/from-catalog/", {"failure_mode": "currency-mix-drift"}
    )
    p = Playbook.objects.get()
    assert r.status_code == 302 and r["Location"] == p.get_absolute_url()
    assert p.status == "draft" and p.current.source == {"failure_mode": "currency-mix-drift"}
    assert AuditEvent.objects.filter(verb="playbooks.playbook.drafted").count() == 1
    assert "Playbooks for this (1)" in client_for(people["reviewer"]).get(fm_url).content.decode()
    missing = client_for(people["engineer"]).post(
        "/playbooks/from-catalog/", {"mitigation": "nope"}
    )
    assert missing.status_code == 404


def test_nav_shows_playbooks_to_every_role(playbook, people):
    html = client_for(people["reviewer"]).get("/playbooks/").content.decode()
    assert 'href="/playbooks/"' in html


@pytest.mark.parametrize("accept", ["application/json", "text/html", "*/*"])
def test_bad_paths_are_404_not_500(playbook, people, accept):
    c = client_for(people["engineer"])
    assert c.get("/playbooks/nope/", HTTP_ACCEPT=accept).status_code == 404
    assert c.post(f"/playbooks/{playbook.slug}/explode/", HTTP_ACCEPT=accept).status_code == 404
    assert (
        c.get(f"/playbooks/{playbook.slug}/diff/?from=7&to=1", HTTP_ACCEPT=accept).status_code
        == 404
    )
