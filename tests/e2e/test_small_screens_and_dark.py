"""Browser tests: find an item from the top bar, My decisions with Undo, the leads'
escalations count, and the queue and review pages on a 390 px phone and in the dark theme.

Screenshots (test-artifacts/): small-*.png at 390x844, dark-*.png in the dark theme."""

from __future__ import annotations

import pytest

from reviewapp.models import Decision, PoolMembership
from reviewapp.services.claims import review_item_claim_next
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _scroll_width(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


def _wider_than(page, width: int) -> list[str]:
    """The elements that stick out past ``width`` (to say what broke when something does)."""
    return page.evaluate(
        """(w) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > w + 0.5 && e.offsetParent !== null)
            .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""",
        width,
    )


@pytest.fixture
def ana(fraud_model):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


def test_find_an_item_from_the_top_bar(live_server, page, sign_in, artifacts, ana, fraud_model):
    items = fx.make_items(fraud_model, 3, prefix="order-4411")
    sign_in(page, live_server, "ana")
    page.fill("#topbar-find", items[1].prediction.external_id)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/queue/items/{items[1].pk}/")
    page.fill("#topbar-find", "order-4411")
    page.keyboard.press("Enter")
    page.wait_for_url("**/queue/find/?q=order-4411")
    assert "3 items have an external id starting with" in page.inner_text("main")
    assert page.locator(".find-results tbody tr").count() == 3
    page.screenshot(path=str(artifacts / "find-results.png"), full_page=True)
    page.fill("#topbar-find", "no-such-order")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "No item in your queue matches" in page.inner_text("main")


def test_my_decisions_and_undo(live_server, page, sign_in, artifacts, ana, fraud_model, settings):
    settings.REVIEW_UNDO_SECONDS = 120
    fx.make_items(fraud_model, 4)
    for action, fields in [
        ("accept", {}),
        ("override", {"label": "legit", "reason": "Known merchant and device"}),
        ("escalate", {"note": "Needs the merchant file"}),
    ]:
        item = review_item_claim_next(user=ana)
        fx.decide(item, ana, action, **fields)
    sign_in(page, live_server, "ana")
    page.click(".usermenu summary")
    page.click("text=My decisions")
    page.wait_for_url("**/queue/mine/")
    assert page.locator(".my-decisions tbody tr").count() == 3
    assert page.inner_text("[data-testid=figures-me]").split()[1] == "3"
    page.screenshot(path=str(artifacts / "my-decisions.png"), full_page=True)
    escalated = Decision.objects.get(action="escalate")
    page.click(f"form[action='/queue/decisions/{escalated.pk}/undo/'] button")
    page.wait_for_url(f"**/queue/items/{escalated.item_id}/review/")
    escalated.refresh_from_db()
    assert escalated.undone_at is not None


def test_leads_see_the_escalations_count(live_server, page, sign_in, artifacts, ana, fraud_model):
    fx.make_items(fraud_model, 2)
    UserFactory(username="lee", roles=["lead"])
    for note in ("Needs the merchant file", "Customer disputes"):
        item = review_item_claim_next(user=ana)
        fx.decide(item, ana, "escalate", note=note)
    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/queue/")
    counter = page.locator("[data-counter=escalations]")
    assert counter.inner_text().split() == ["Escalations", "2"]
    page.locator(".topbar").screenshot(path=str(artifacts / "topbar-lead.png"))
    counter.click()
    page.wait_for_url("**/queue/escalations/")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_queue_and_review_fit_a_phone(
    live_server, page, sign_in, artifacts, ana, fraud_model, scheme
):
    fx.make_items(fraud_model, 6)
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/queue/")
    assert _scroll_width(page) <= 390, _wider_than(page, 390)
    page.screenshot(path=str(artifacts / f"small-queue-{scheme}.png"), full_page=False)
    page.click("text=Start reviewing")
    page.wait_for_url("**/review/")
    page.screenshot(path=str(artifacts / f"small-review-{scheme}.png"), full_page=True)
    assert _scroll_width(page) <= 390, _wider_than(page, 390)
    # The actions are reachable: on the page, not off its right edge.
    for button in page.locator("#decide-form .buttons .btn").all():
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    for name, path in (("mine", "/queue/mine/"), ("find", "/queue/find/?q=t-"),
                       ("notifications", "/notifications/")):  # fmt: skip
        page.goto(f"{live_server.url}{path}")
        page.screenshot(path=str(artifacts / f"small-{name}-{scheme}.png"), full_page=False)
        assert _scroll_width(page) <= 390, (path, _wider_than(page, 390))


def test_dark_theme_follows_the_system(live_server, page, sign_in, artifacts, ana, fraud_model):
    fx.make_items(fraud_model, 4)
    page.emulate_media(color_scheme="dark")
    sign_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/queue/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    text = page.evaluate("getComputedStyle(document.body).color")
    assert background != "rgb(255, 255, 255)" and _luminance(background) < 0.1, background
    assert _contrast(text, background) >= 7, (text, background)
    for selector in (".badge", "a", ".muted"):
        for element in page.locator(f"main {selector}").all()[:10]:
            fg, bg = element.evaluate(
                """e => { let b = e, c = 'rgba(0, 0, 0, 0)';
                   while (b && (c = getComputedStyle(b).backgroundColor) === 'rgba(0, 0, 0, 0)') b = b.parentElement;
                   return [getComputedStyle(e).color, c]; }"""
            )
            assert _contrast(fg, bg) >= 4.5, (selector, element.inner_text(), fg, bg)
    page.screenshot(path=str(artifacts / "dark-queue.png"), full_page=False)
    page.click("text=Start reviewing")
    page.wait_for_url("**/review/")
    page.screenshot(path=str(artifacts / "dark-review.png"), full_page=False)
    page.goto(f"{live_server.url}/dashboards/")
    page.screenshot(path=str(artifacts / "dark-dashboards.png"), full_page=False)
    page.goto(f"{live_server.url}/queue/mine/")
    page.screenshot(path=str(artifacts / "dark-my-decisions.png"), full_page=False)
    page.emulate_media(color_scheme="light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"


def _rgb(css: str) -> tuple[float, float, float]:
    parts = css[css.index("(") + 1 : css.index(")")].split(",")
    return tuple(float(p) for p in parts[:3])  # type: ignore[return-value]


def _luminance(css: str) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(css))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
