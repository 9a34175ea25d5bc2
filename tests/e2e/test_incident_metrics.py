"""Browser test: an engineer goes from the incident list to the metrics page over the demo
incidents, reads the durations with the incidents behind them, the chart, the overdue action
item and the recurrence, narrows to one model, and the page reads on a phone too. Saves
screenshots at 1280 px and 390 px."""

import pytest

from playbooks import demo as playbook_demo
from playbooks.incidents import demo
from tests.factories import MLModelFactory
from tests.playbooks import conftest as playbook_fixtures

catalog = playbook_fixtures.catalog
people = playbook_fixtures.people

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_engineer_reads_incident_metrics(live_server, page, sign_in, artifacts, catalog, people):
    for slug in ("card-fraud", "support-triage", "radiology-triage"):
        MLModelFactory(slug=slug)
    playbook_demo.seed_playbooks()
    assert demo.seed_incidents() == 9
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, "sam")

    page.goto(f"{live_server.url}/incidents/")
    page.click(".page-head >> text=Metrics")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Incident metrics"
    assert "8 incidents counted" in page.locator("#im-summary").inner_text()
    assert "1 cancelled, not counted" in page.locator("#im-summary").inner_text()
    detect = page.locator("#im-detect").inner_text()
    assert "mean and p90 of 6 incidents" in detect
    assert "2 without impact start, not counted" in detect
    assert page.locator("svg.im-chart rect.im-bar").count() > 0
    assert "Contract test" in page.locator("#im-overdue").inner_text()
    assert "sam" in page.locator("#im-overdue").inner_text()
    assert "days overdue" in page.locator("#im-overdue").inner_text()
    recurrence = page.locator("#im-recurrence").inner_text()
    assert "Currency mix drift" in recurrence
    page.screenshot(path=str(artifacts / "incident-metrics.png"), full_page=True)

    page.select_option("select[name=model]", "card-fraud")
    page.click("form.inc-filters button")
    page.wait_for_load_state("networkidle")
    assert "card-fraud" in page.locator("h1").inner_text()
    assert "4 incidents counted" in page.locator("#im-summary").inner_text()
    assert "few" in page.locator("#im-detect").inner_text()
    page.click("#im-over-time summary")
    data = page.locator("#im-over-time table").inner_text()
    assert "week of" in data and "p90" in data
    page.screenshot(path=str(artifacts / "incident-metrics-card-fraud.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/incidents/metrics/")
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392, f"the page scrolls sideways on a phone ({width} px)"
    page.screenshot(path=str(artifacts / "incident-metrics-phone.png"), full_page=True)
    assert not js_errors
