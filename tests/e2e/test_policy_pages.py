"""The policy pages in a real browser: a lead rolls back in an emergency from the history and
sees the flag on the model's pages; a reviewer reads the current policy. Screenshots go to
/tmp/shots/policy-*.png for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewapp.models import PoolMembership
from tests.factories import MLModelFactory, UserFactory, make_policy
from tests.governance.cr_helpers import approve, proposal, submitted

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots")

SEGMENTED = proposal(
    schema=2,
    max_auto_error_rate=0.02,
    segments=[
        {
            "name": "high-value",
            "conditions": [{"field": "input.amount", "op": ">=", "value": 10000}],
            "min_confidence": 0.95,
            "tier": "critical",
        }
    ],
)


def _world():
    model = MLModelFactory(slug="card-fraud", name="Card fraud", labels=["fraud", "legit"],
                           criticality="critical")  # fmt: skip
    make_policy(model)
    sam = UserFactory(username="sam", roles=["engineer"])
    cora = UserFactory(username="cora", roles=["committee"])
    cole = UserFactory(username="cole", roles=["committee"])
    UserFactory(username="cleo", roles=["committee"])
    UserFactory(username="lee", roles=["lead"])
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=model, user=ana)
    cr, digest = submitted(model, sam, SEGMENTED)
    approve(cr, cora, digest)
    approve(cr, cole, digest)
    return model


def test_a_lead_rolls_back_from_the_history_and_the_model_pages_flag_it(live_server, page, sign_in):
    SHOTS.mkdir(parents=True, exist_ok=True)
    _world()
    sign_in(page, live_server, "lee")

    page.goto(f"{live_server.url}/governance/models/card-fraud/history/")
    page.screenshot(path=str(SHOTS / "policy-history.png"), full_page=True)
    rows = page.locator("table.history tbody tr")
    assert rows.count() == 2
    assert "cora, cole" in rows.first.inner_text()

    # Compare v1 with v2 from the history's radio buttons.
    page.get_by_role("button", name="Compare A with B, rule by rule").click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / "policy-diff.png"), full_page=True)
    assert page.locator("table.rule-diff tr.diff-changed").count() >= 1

    page.goto(f"{live_server.url}/governance/models/card-fraud/history/")
    page.get_by_role("link", name="Emergency rollback to v1…").click()
    page.wait_for_load_state("networkidle")
    # Submitting without the confirmation keeps the form, says what is missing.
    page.fill("#id_reason", "Queue flooded after v2: 4,000 items in an hour")
    page.screenshot(path=str(SHOTS / "policy-emergency-form.png"), full_page=True)
    page.locator("input[name=confirm]").check()
    page.get_by_role("button", name="Roll back to v1 now").click()
    page.wait_for_load_state("networkidle")
    # The request page is another part of the issue; the flag is on the model's pages.
    page.goto(f"{live_server.url}/governance/models/card-fraud/")
    flag = page.get_by_test_id("emergency-flag")
    assert flag.is_visible()
    assert "Queue flooded after v2" in flag.inner_text()
    assert "v3" in flag.inner_text() and "v1" in flag.inner_text()
    page.screenshot(path=str(SHOTS / "policy-current-lead-after-rollback.png"), full_page=True)

    page.goto(f"{live_server.url}/dashboards/models/card-fraud/")
    assert page.get_by_test_id("emergency-flag").is_visible()
    page.screenshot(path=str(SHOTS / "policy-flag-on-dashboard.png"))

    page.goto(f"{live_server.url}/queue/?model=card-fraud")
    assert page.get_by_test_id("emergency-flag").is_visible()
    page.screenshot(path=str(SHOTS / "policy-flag-on-queue.png"))


def test_a_reviewer_reads_the_current_policy_read_only(live_server, page, sign_in):
    SHOTS.mkdir(parents=True, exist_ok=True)
    _world()
    sign_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/governance/models/card-fraud/")
    page.screenshot(path=str(SHOTS / "policy-current-reviewer.png"), full_page=True)
    page.screenshot(path=str(SHOTS / "policy-current-reviewer-first-screen.png"))
    assert "Routing policy v2" in page.locator("main").inner_text()
    assert page.locator("main form").count() == 0
    assert page.get_by_role("link", name="History").count() == 0
    assert page.get_by_text("input.amount is at least 10000").is_visible()
    response = page.goto(f"{live_server.url}/governance/models/card-fraud/history/")
    assert response.status == 403
