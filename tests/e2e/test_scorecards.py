"""A lead reads the review-quality overview and opens a reviewer's scorecard; the reviewer
reads their own from the user menu and gets the 404 page for a colleague's. Screenshots kept
for a person to look at."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from reviewapp.core import clock
from reviewapp.models import PoolMembership, Purpose
from tests.factories import MLModelFactory, UserFactory, make_policy
from tests.quality import scorecard_builders as b

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _history():
    """Six weeks of two reviewers on card-fraud: ana careful, ravi fast and agreeable."""
    rng = random.Random(17)
    fraud = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"], criticality="critical")
    make_policy(fraud)
    ana = UserFactory(username="ana", first_name="Ana", roles=["reviewer"])
    ravi = UserFactory(username="ravi", first_name="Ravi", roles=["reviewer"])
    lee = UserFactory(username="lee", roles=["lead"])
    for u in (ana, ravi):
        PoolMembership.objects.create(model=fraud, user=u)
    now = clock.now()
    for day in range(42):
        at = now - dt.timedelta(days=day, hours=1)
        for _ in range(2):
            truth = rng.choice(["fraud", "legit"])
            pred = b.prediction(fraud, rng.choice(["fraud", "legit"]))
            b.decide(b.item(pred), ana, truth, at=at, seconds=rng.uniform(25, 70))
            second = b.item(pred, Purpose.SHIFT_SAMPLE)
            b.decide(second, ravi, pred.label if rng.random() < 0.8 else truth, at=at, seconds=3)
    for i in range(24):
        label, model_label = ("legit", "fraud") if i % 2 else ("fraud", "fraud")
        g = b.gold(fraud, lee, label=label, model_label=model_label)
        b.serve_and_answer(g, ana, label if i % 7 else model_label)
        b.serve_and_answer(g, ravi, model_label)
    for i in range(22):
        first, second = ("fraud", "fraud") if i % 3 else ("fraud", "legit")
        b.second_review(
            fraud, ravi, first, ana, second, model_label="fraud",
            final_label="legit" if first != second else "", lead=lee,
        )  # fmt: skip
    return ana, ravi


def test_lead_reads_the_overview_and_a_scorecard_reviewer_reads_their_own(
    live_server, page, sign_in, artifacts
):
    ana, ravi = _history()

    sign_in(page, live_server, "lee")
    page.click("nav.sections a:has-text('Quality')")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Review quality"
    row = page.locator("table.agreement-table tbody tr[data-model='card-fraud']")
    assert "n=22" in row.inner_text()  # the kappa of the 22 second-review pairs
    reviewers = page.locator("table.reviewers-table tbody tr")
    assert reviewers.count() == 2
    page.locator("table.agreement-table details summary").first.click()
    page.screenshot(path=str(artifacts / "quality-overview.png"), full_page=True)

    page.click("table.reviewers-table a:has-text('Ravi')")
    page.wait_for_load_state("networkidle")
    assert "Scorecard: Ravi" in page.locator("h1").inner_text()
    stamp = page.locator("[data-figure='rubber-stamp'] .value").inner_text()
    assert stamp.startswith("1.00 (")  # ravi accepted every known-wrong answer
    assert page.locator("svg.trend-svg").count() == 4
    page.screenshot(path=str(artifacts / "quality-scorecard-lead.png"), full_page=True)

    page.goto(f"{live_server.url}/accounts/login/")
    page.context.clear_cookies()
    sign_in(page, live_server, "ana")
    page.click(".usermenu summary")
    page.click(".usermenu a:has-text('My scorecard')")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "My scorecard"
    assert "Higher is better" in page.locator("[data-figure='gold'] .explain").inner_text()
    page.locator("details.show-data summary").click()
    page.screenshot(path=str(artifacts / "quality-scorecard-own.png"), full_page=True)

    response = page.goto(f"{live_server.url}/quality/reviewers/{ravi.pk}/")
    assert response.status == 404
    page.goto(f"{live_server.url}/quality/")  # a reviewer lands on their own scorecard
    assert page.url.endswith("/quality/me/")
