"""Browser test: an on-call tool opens an incident and contains it through the API with an
engineer's personal token; the engineer then finds it on the incidents list and its page as
the tool left it (source, status, commander). Saves screenshots."""

import pytest

from reviewapp.accounts.services import personal_token_create
from tests.factories import MLModelFactory
from tests.playbooks import conftest as playbook_fixtures

people = playbook_fixtures.people

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_incident_opened_by_an_on_call_tool_shows_on_its_page(
    live_server, page, sign_in, artifacts, people
):
    MLModelFactory(slug="card-fraud", name="Card fraud")
    token = personal_token_create(user=people["engineer"], name="pager", days=1).token
    api = page.request
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    base = f"{live_server.url}/api/v1/incidents"

    opened = api.post(
        base,
        headers=headers,
        data={
            "title": "card-fraud: OOD rate out of bounds",
            "severity": "S2",
            "models": ["card-fraud"],
            "summary": "Paged by the OOD monitor.",
            "impact_started_at": "2026-01-05T08:00:00Z",
            "detected_at": "2026-01-05T08:10:00Z",
        },
    )
    assert opened.status == 201, opened.text()
    incident = opened.json()
    assert opened.headers["location"] == f"{base}/{incident['id']}"
    moved = api.post(
        f"{base}/{incident['id']}/transitions",
        headers=headers,
        data={"event": "contain", "version": incident["version"], "at": "2026-01-05T08:25:00Z"},
    )
    assert moved.status == 200, moved.text()
    assert moved.json()["durations"]["time_to_contain"] == 15 * 60
    note = api.post(
        f"{base}/{incident['id']}/notes",
        headers=headers,
        data={"body": "Contained by the pager bot."},
    )
    assert note.status == 201
    # A stale version is refused, and the page does not change.
    stale = api.post(
        f"{base}/{incident['id']}/transitions",
        headers=headers,
        data={"event": "remediate", "version": incident["version"]},
    )
    assert stale.status == 409 and "version" in stale.json()["errors"]

    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/incidents/?status=open")
    row = page.locator("tr", has_text="card-fraud: OOD rate out of bounds")
    assert row.count() == 1
    assert "Contained" in row.inner_text() and "sam" in row.inner_text()
    page.screenshot(path=str(artifacts / "incidents-api-list.png"), full_page=True)

    page.goto(moved.json()["urls"]["html"])
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().endswith("card-fraud: OOD rate out of bounds")
    body = page.locator("main").inner_text()
    assert "Opened through the API" in body
    assert "Contained" in body
    assert "sam" in page.locator(".inc-badges").inner_text()
    page.screenshot(path=str(artifacts / "incidents-api-detail.png"), full_page=True)
