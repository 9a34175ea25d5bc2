"""A reviewer works through a live item and a gold item in the browser and cannot tell them apart
(docs/quality/blind.md); a lead sees which one is gold. Screenshots kept."""

from __future__ import annotations

import re

import pytest

from reviewapp.models import PoolMembership
from tests.factories import UserFactory
from tests.quality.test_blind import LEAKS, SOURCE_REASON, decided_source, live_item, serve_gold

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sections(page) -> list[str]:
    return [t.strip() for t in page.locator("main h2").all_inner_texts()]


def test_gold_and_live_review_pages_look_alike(live_server, page, sign_in, artifacts, fraud_model):
    ana = UserFactory(username="ana", roles=["reviewer"])
    ravi = UserFactory(username="ravi", roles=["reviewer"])
    lee = UserFactory(username="lee", roles=["lead"])
    for user in (ana, ravi):
        PoolMembership.objects.create(model=fraud_model, user=user)
    # Not critical: ravi's override would also get a real blind second review (test_blind).
    fraud_model.criticality = "high"
    fraud_model.save(update_fields=["criticality"])
    source = decided_source(fraud_model, ravi)
    live = live_item(fraud_model)
    gold = serve_gold(source, ana, lee, like=live)

    sign_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/queue/")
    listed = page.locator("main").inner_text().lower()
    assert not any(word in listed for word in LEAKS)
    assert "2 open items" in listed  # the counts match the list: the gold item counted
    page.screenshot(path=str(artifacts / "blind-queue-reviewer.png"), full_page=True)

    seen: dict[int, dict] = {}
    page.click("button:has-text('Start reviewing')")
    for _ in range(2):
        page.wait_for_selector("#decide-form")
        item_id = int(re.search(r"/items/(\d+)/review/", page.url).group(1))
        text = page.locator("main").inner_text()
        seen[item_id] = {"text": text, "sections": _sections(page)}
        name = "blind-review-gold" if item_id == gold.pk else "blind-review-live"
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        if len(seen) == 1:
            page.keyboard.press("a")
            page.keyboard.press("Enter")
    assert set(seen) == {gold.pk, live.pk}
    gold_text = seen[gold.pk]["text"]
    assert seen[gold.pk]["sections"] == seen[live.pk]["sections"]
    for secret in (*LEAKS, SOURCE_REASON.lower(), "ravi", source.prediction.external_id.lower()):
        assert secret not in gold_text.lower(), secret
    assert "v2.0" in gold_text and "v1.0" not in gold_text

    page.context.clear_cookies()
    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/queue/?status=all")
    assert page.locator(
        f"tr:has(a[href='/queue/items/{gold.pk}/']) .badge:has-text('gold')"
    ).count()
    page.screenshot(path=str(artifacts / "blind-queue-lead.png"), full_page=True)
