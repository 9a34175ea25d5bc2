"""Browser tests of the review page's keyboard: Enter submits only the action the reviewer
chose, and says so before it does; with no action chosen it only asks for one."""

import pytest

from reviewapp.models import Decision, PoolMembership, ReviewItem
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_enter_without_a_chosen_action_records_nothing(
    live_server, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    first, second = fx.make_items(fraud_model, 2, confidence=0.55)
    ReviewItem.objects.filter(pk=first.pk).update(priority=90)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "ana")
    page.click("text=Start reviewing")
    page.wait_for_url(f"**/queue/items/{first.pk}/review/")
    review_url = page.url

    # The defect: a note typed with no action chosen, then Enter, escalated the item.
    page.click("#id_reason")
    page.keyboard.type("looks fine to me")
    page.keyboard.press("Enter")
    hint = page.locator("[data-mode-hint]")
    hint.filter(has_text="Choose an action (a, o, e, d).").wait_for()
    assert hint.get_attribute("role") == "status"  # read out by screen readers
    page.wait_for_timeout(500)  # a submission would have navigated by now
    assert page.url == review_url
    assert not Decision.objects.exists()
    assert ReviewItem.objects.get(pk=first.pk).status == ReviewItem.Status.CLAIMED
    assert page.input_value("#id_reason") == "looks fine to me"  # the note is kept
    page.screenshot(path=str(artifacts / "review-enter-no-action.png"))

    # Choosing override and a label shows what Enter will do before it does it.
    page.keyboard.press("Escape")
    page.keyboard.press("o")
    page.keyboard.press("2")  # the second label: legit
    assert page.locator(".btn.mode").get_attribute("data-action") == "override"
    assert hint.inner_text() == "Enter to override as legit."
    page.screenshot(path=str(artifacts / "review-enter-override-chosen.png"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/queue/items/{second.pk}/review/?done=*")
    decision = Decision.objects.get()
    assert (decision.action, decision.final_label) == ("override", "legit")
    assert decision.reason == "looks fine to me"

    # Defer without a time says where the item goes (the form's help, shown once chosen).
    page.keyboard.press("d")
    assert "behind the others" in hint.inner_text()
    assert "30 minutes" in hint.inner_text()
    # Escalate is chosen with e and said as such; Enter then escalates, nothing else.
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    assert hint.inner_text() == "Enter to escalate to a lead, with your note."
    page.keyboard.type("Same device as a known fraud ring")
    page.keyboard.press("Enter")
    page.wait_for_url("**/queue/?done=*")
    assert Decision.objects.get(item=second).action == "escalate"
    assert not js_errors, js_errors


def _failure_mode(title: str, signal_keys: list[str], *, publish: bool):
    from catalog import services as catalog_services
    from catalog.models import Category
    from tests.reviewapp.test_catalog_calls import FULL

    # Seeded by a migration, and gone after an earlier browser test's flush.
    Category.objects.get_or_create(slug=FULL["category"], defaults={"name": "Data drift"})
    author = UserFactory(username="edith", roles=["catalog_editor"])
    fm = catalog_services.failure_mode_create(
        user=author,
        data={**FULL, "title": title, "owner": "edith", "steward": "edith",
              "signal_keys": signal_keys},
    )  # fmt: skip
    if publish:
        publisher = UserFactory(username="emil", roles=["catalog_editor"])
        fm = catalog_services.failure_mode_transition(failure_mode=fm, user=author, action="submit")
        fm = catalog_services.failure_mode_transition(
            failure_mode=fm, user=publisher, action="publish"
        )
    return fm


def test_tag_picker_is_searchable_matching_first_and_arrows_never_select(
    live_server, page, sign_in, artifacts, fraud_model
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    for title in ("Broken upstream join", "Label leakage", "Currency rounding in exports"):
        _failure_mode(title, ["elsewhere"], publish=False)
    drift = _failure_mode("Currency drift", ["fraud"], publish=True)  # matches label "fraud"
    (item,) = fx.make_items(fraud_model, 1, confidence=0.55)
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "ana")
    page.click("text=Start reviewing")
    page.wait_for_url(f"**/queue/items/{item.pk}/review/")
    review_url = page.url
    assert page.is_hidden("select#id_tags")  # enhanced: the select stays the form's value

    combo = page.get_by_role("combobox", name="Failure modes")
    combo.focus()
    assert combo.get_attribute("aria-expanded") == "true"
    options = page.locator("#tags-listbox [role=option]")
    # The entry the page shows under "Matching failure modes" comes first, in its own group.
    assert page.locator("#tags-listbox .tag-group").first.inner_text() == "Matching this item"
    assert options.first.inner_text().startswith("Currency drift")
    assert options.count() == 4

    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    second = options.nth(1)
    assert combo.get_attribute("aria-activedescendant") == second.get_attribute("id")
    # Moving never selects.
    assert page.locator("#tags-listbox [aria-selected=true]").count() == 0
    assert page.eval_on_selector("#id_tags", "s => s.selectedOptions.length") == 0
    page.screenshot(path=str(artifacts / "review-tag-picker-open.png"))
    # The open list stays inside the page (no sideways scrolling).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    second_slug = second.get_attribute("data-slug")
    page.keyboard.press("Enter")  # picks the highlighted entry, submits nothing
    assert second.get_attribute("aria-selected") == "true"
    assert page.url == review_url and not Decision.objects.exists()

    page.keyboard.type("curr drift")  # words in any order, by title
    visible = page.locator("#tags-listbox [role=option]:visible").all_inner_texts()
    assert [t.strip() for t in visible] == ["Currency drift S2"]
    page.keyboard.press("ArrowDown")
    page.keyboard.press(" ")  # Space picks too
    assert options.first.get_attribute("aria-selected") == "true"
    assert page.input_value("#id_tags_search") == "curr drift"  # the space was not typed
    page.keyboard.press("Escape")  # closes the list, focus stays in the box
    assert combo.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.id") == "id_tags_search"
    chips = page.locator(".tag-chip")
    assert chips.count() == 2
    page.screenshot(path=str(artifacts / "review-tag-picker-chosen.png"))

    page.keyboard.press("Escape")  # leaves the box; the page's keys work again
    page.keyboard.press("a")
    page.wait_for_url("**/queue/?done=*")
    decision = Decision.objects.get()
    assert decision.action == "accept"
    assert sorted(decision.failure_mode_tags) == sorted([drift.slug, second_slug])
    assert not js_errors, js_errors


def test_start_reviewing_works_through_the_filter_on_screen(
    live_server, page, sign_in, artifacts, fraud_model
):
    """The defect: with support-triage filtered, a card-fraud item was served."""
    from tests.factories import MLModelFactory, make_policy

    support = MLModelFactory(slug="support-triage", labels=["billing", "bug"], criticality="medium")
    make_policy(
        support,
        {
            "min_confidence": 0.8,
            "sla_minutes": {"critical": 20, "high": 45, "medium": 240, "low": 720},
            "fallback": {"label": "billing"},
        },
    )
    ana = UserFactory(username="ana", roles=["reviewer"])
    for model in (fraud_model, support):
        PoolMembership.objects.create(model=model, user=ana)
    (fraud,) = fx.make_items(fraud_model, 1)
    ReviewItem.objects.filter(pk=fraud.pk).update(priority=100)  # first in the whole queue
    tickets = fx.make_items(support, 2, prefix="s")
    js_errors: list[str] = []
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    sign_in(page, live_server, "ana")
    # Filter the way a reviewer does: the model select in the filters (htmx swaps the list).
    page.goto(f"{live_server.url}/queue/")
    page.check("input[name=model][value=support-triage]")
    page.wait_for_selector("#work-filter")
    assert "support-triage" in page.inner_text("#work-filter")
    page.screenshot(path=str(artifacts / "queue-filtered-start.png"))
    page.keyboard.press("s")
    page.wait_for_url("**/review/?model=support-triage")
    first = ReviewItem.objects.get(claimed_by=ana)
    assert first.model_id == support.pk
    banner = page.inner_text("#work-filter")
    assert "Working through" in banner and "support-triage" in banner
    box = page.locator("#decide-form").bounding_box()
    assert box["y"] + box["height"] <= 768, box  # still one screen at 1366x768
    page.screenshot(path=str(artifacts / "review-working-through.png"))

    page.keyboard.press("a")  # decide: the next item keeps the filter
    page.wait_for_url("**/review/?model=support-triage&done=*")
    second = ReviewItem.objects.get(claimed_by=ana, status=ReviewItem.Status.CLAIMED)
    assert second.model_id == support.pk and {first.pk, second.pk} == {t.pk for t in tickets}
    # Leaving the filter: the next claim comes from the whole queue again.
    page.click("text=Leave this filter")
    page.wait_for_url(f"**/queue/items/{second.pk}/review/")
    assert page.locator("#work-filter").count() == 0
    page.keyboard.press("a")
    page.wait_for_url(f"**/queue/items/{fraud.pk}/review/?done=*")
    assert ReviewItem.objects.get(pk=fraud.pk).claimed_by == ana
    assert not js_errors, js_errors
