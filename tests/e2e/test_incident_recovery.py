"""Browser test: the commander of an incident reads the ranked recovery paths, simulates the
policy rollback (governance's impact replay), and chooses it with a reason; the decision links
the change request it opened, and the active policy is unchanged. Saves screenshots."""

import datetime as dt

import pytest

from playbooks.incidents import services
from reviewapp.core import clock
from reviewapp.governance.models import ChangeRequest, PolicyVersion
from tests.playbooks import conftest as playbook_fixtures
from tests.playbooks import test_recovery as fx

people = playbook_fixtures.people
model = fx.model

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_commander_scores_simulates_and_chooses(
    live_server, page, sign_in, artifacts, people, model
):
    fx.traffic(model, passed=300, routed=60, latency=140.0)
    fx.reviews(model, people["reviewer"], overrides=6, accepts=54)
    # Before the impact (two days ago) one decision in 60 was an override.
    fx.reviews(model, people["reviewer"], overrides=1, accepts=59, start=5000, ago_minutes=2880)
    incident = services.incident_open(
        actor=people["engineer"], title="Fraud slipping through since policy v2", severity="S2",
        model_slugs=[model.slug], impact_started_at=clock.now() - dt.timedelta(hours=2),
    )  # fmt: skip
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "sam")

    page.goto(f"{live_server.url}/incidents/{incident.pk}/#recovery")
    table = page.locator("#recovery table.rec-table")
    rows = table.locator("tr[data-path]")
    assert rows.count() == 7
    ranks = [int(t) for t in rows.locator("> td:first-child").all_inner_texts()]
    assert ranks == list(range(1, 8))
    # Doing nothing leaves 10 % wrong: above the policy's 3 %, unsafe, ranked after the safe.
    nothing = table.locator("tr[data-path='do_nothing']")
    assert "unsafe" in nothing.inner_text() and "above the tolerated 3.00%" in nothing.inner_text()
    page.locator("#recovery").screenshot(path=str(artifacts / "incident-recovery-ranked.png"))

    rollback = table.locator("tr[data-path='policy_rollback']")
    rollback.get_by_role("button", name="Simulate").click()
    page.wait_for_load_state("networkidle")
    assert "Simulated on" in page.locator(".messages").inner_text()
    rollback = page.locator("#recovery tr[data-path='policy_rollback']")
    simulated = rollback.locator("[data-testid=simulation]").inner_text()
    assert "items in the queue" in simulated and "errors would escape review" in simulated

    rollback.locator("summary", has_text="Choose this path").click()
    rollback.locator("textarea[name=reason]").fill("v2 lowered the threshold; errors escape.")
    rollback.get_by_role("button", name="Choose: Roll back the routing policy to v1").click()
    page.wait_for_load_state("networkidle")

    cr = ChangeRequest.objects.get(proposer=people["engineer"])
    decisions = page.locator(".rec-decisions li")
    assert decisions.count() == 1
    text = decisions.first.inner_text()
    assert f"change request #{cr.pk}" in text and "sam" in text and "draft" in text
    assert PolicyVersion.objects.get(model_slug=model.slug, is_active=True).version == 2
    page.locator("#recovery").screenshot(path=str(artifacts / "incident-recovery-chosen.png"))
    page.screenshot(path=str(artifacts / "incident-recovery-page.png"), full_page=True)
    decisions.first.get_by_role("link", name=f"change request #{cr.pk}").click()
    page.wait_for_load_state("networkidle")
    assert f"/governance/requests/{cr.pk}/" in page.url
    assert not js_errors
