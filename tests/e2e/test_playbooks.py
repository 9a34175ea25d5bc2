"""Browser test: an on-call engineer finds the playbook for a failure mode, reads its steps by
phase (conditions in words, a decision's branches with their targets), follows a branch,
reads an old version and the diff, is told beside the field what is wrong with an edit, and
drafts a playbook from a catalog entry in one click. Saves screenshots of each page."""

import pytest

from playbooks import demo, services
from playbooks.models import Playbook
from tests.playbooks import conftest as playbook_fixtures

# The playbooks tests' fixtures: the starter catalog's entries and one user per role.
catalog = playbook_fixtures.catalog
people = playbook_fixtures.people

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_engineer_follows_edits_and_drafts_playbooks(
    live_server,
    page,
    sign_in,
    artifacts,
    catalog,
    people,
):
    assert demo.seed_playbooks() == 5
    drift = Playbook.objects.get(current__title__startswith="Data drift")
    doc = drift.current.document
    doc["steps"][0]["instructions"] += " Page the lead for S1."
    services.playbook_revise(
        playbook=drift, actor=people["engineer"], document=doc, base_version=1, note="S1 paging"
    )
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "sam")

    page.goto(f"{live_server.url}/playbooks/")
    assert page.locator("table.pb-table tbody tr").count() == 5
    page.click("text=Currency mix drift after a new market launch")
    page.wait_for_load_state("networkidle")
    assert page.locator("table.pb-table tbody tr").count() == 1
    page.screenshot(path=str(artifacts / "playbooks-list.png"), full_page=True)

    page.click("text=Data drift: inputs move away from training")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Data drift: inputs move away from training"
    phases = page.locator(".pb-phase h2").all_inner_texts()
    assert [p.lower() for p in phases] == [
        "triage", "evidence", "containment", "remediation", "verification", "communication"
    ]  # fmt: skip
    decision = page.locator("#step-what-moved")
    assert "Decision point" in decision.inner_text()
    assert "step 6: Contain the model" in decision.inner_text()
    assert "Only when severity is S2 or more severe" in page.locator("#step-tell-lead").inner_text()
    assert "Then go to step 8: Tell the lead on duty" in page.locator("#step-contain").inner_text()
    page.screenshot(path=str(artifacts / "playbook-page.png"), full_page=True)
    page.screenshot(path=str(artifacts / "playbook-page-first-screen.png"))

    decision.locator("a[href='#step-route-slice']").click()
    assert page.url.endswith("#step-route-slice")

    page.click("text=changes from v1")
    page.wait_for_load_state("networkidle")
    assert "Page the lead for S1." in page.locator("table.pb-diff").inner_text()
    page.screenshot(path=str(artifacts / "playbook-diff.png"), full_page=True)

    page.goto(f"{live_server.url}{drift.get_absolute_url()}edit/")
    page.fill("#id_steps-5-condition", "severity >= S9")
    page.fill("#id_template_status_update", "{modle} is down")
    page.click("button:has-text('Save as a new version')")
    page.wait_for_load_state("networkidle")
    assert (
        "“S9” is not a value of severity"
        in page.locator("#id_steps-5-condition-error").inner_text()
    )
    assert "{modle}" in page.locator("#id_template_status_update-error").inner_text()
    page.locator("#step-form-5").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "playbook-edit-errors.png"))
    assert Playbook.objects.get(pk=drift.pk).version == 2

    page.goto(f"{live_server.url}/catalog/f/overconfident-after-retrain/")
    page.click("button:has-text('Draft a playbook from this')")
    page.wait_for_load_state("networkidle")
    assert "Draft playbook made from the catalog" in page.content()
    assert page.locator("h1").inner_text() == (
        "Playbook: Overconfidence after retraining (calibration lost)"
    )
    page.screenshot(path=str(artifacts / "playbook-draft-from-catalog.png"), full_page=True)
    page.click("summary:has-text('Publish…')")
    assert "On-call engineers will follow it" in page.locator(".pb-confirm form").inner_text()
    page.screenshot(path=str(artifacts / "playbook-publish-confirm.png"))
    page.click("button:has-text('Publish version 1')")
    page.wait_for_load_state("networkidle")
    assert (
        Playbook.objects.get(current__title__startswith="Playbook: Overconfidence").status
        == "active"
    )
    assert not js_errors
