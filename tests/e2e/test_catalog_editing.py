"""Editing a catalog entry in the browser: saving without touching a field changes nothing
in the diff (Chromium sends textarea lines as CR LF); a one-word edit is marked within its
line; publishing names the missing fields before it offers the button. Screenshots kept."""

from __future__ import annotations

import pytest

from catalog import services
from catalog.models import Category
from tests.catalog.conftest import FULL
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_edit_without_touching_shows_no_change_then_a_word_change(
    live_server, page, sign_in, artifacts
):
    # Transactional tests flush the taxonomy that migration 0003 seeds: put back the one used.
    Category.objects.get_or_create(slug="data-drift", defaults={"name": "Data drift"})
    sam = UserFactory(username="sam", roles=["engineer"])
    UserFactory(username="edith", roles=["catalog_editor"])
    fm = services.failure_mode_create(
        user=sam,
        data={
            **FULL,
            "title": "Currency drift",
            "owner": "sam",
            "steward": "sam",
            "cause": "Rates are cached.\nThe cache is refreshed weekly.",
            "trigger_steps": "1. Stop the rate feed.\n2. Wait a day.",
            "business_impact": "",
        },
    )
    sign_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/edit/")
    page.click("button:has-text('Save new version')")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/history/2/")
    page.screenshot(path=str(artifacts / "catalog-diff-untouched.png"), full_page=True)
    assert "No content changed" in page.inner_text("main")
    fm.refresh_from_db()
    assert "\r" not in fm.cause and "\r" not in fm.trigger_steps

    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/edit/")
    page.fill("#id_cause", "Rates are cached.\nThe cache is refreshed daily.")
    page.click("button:has-text('Save new version')")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/history/3/")
    page.screenshot(path=str(artifacts / "catalog-diff-word.png"), full_page=True)
    assert page.locator(".diff h3").all_inner_texts() == ["Cause"]
    assert page.locator(".diff-del del").all_inner_texts() == ["weekly."]
    assert page.locator(".diff-ins ins").all_inner_texts() == ["daily."]

    # Submitted without a business impact: the publish confirmation says so, no button.
    services.failure_mode_transition(failure_mode=fm, user=sam, action="submit")
    page.context.clear_cookies()
    sign_in(page, live_server, "edith")
    page.goto(f"{live_server.url}/catalog/f/{fm.slug}/publish/")
    page.screenshot(path=str(artifacts / "catalog-publish-missing.png"), full_page=True)
    assert page.locator("#missing-fields li").all_inner_texts() == ["Business impact"]
    assert page.locator("button:has-text('Yes, publish')").count() == 0
