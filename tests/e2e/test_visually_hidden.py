"""Words for screen readers only stay hidden on every page, whatever the page's own CSS: one
global class (`.visually-hidden` in failsafe.css), no per-app copies, no second name."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Pages that load no stylesheet of their own, or one that never had the class, first.
PAGES = [
    ("lee", "/delivery/"),
    ("lee", "/delivery/export/"),
    ("lee", "/ingest/rejected/"),
    ("lee", "/accounts/lockouts/"),
    ("lee", "/notifications/"),
    ("cora", "/governance/"),
    ("lee", "/queue/"),
    ("lee", "/dashboards/"),
    ("lee", "/catalog/"),
    ("lee", "/account/"),
]

HIDDEN_BOXES = """() => [...document.querySelectorAll('.visually-hidden')].map(el => {
  const r = el.getBoundingClientRect();
  return {text: el.textContent.trim(), w: r.width, h: r.height};
})"""


def test_screen_reader_words_are_hidden_on_every_page(live_server, page, sign_in, artifacts):
    UserFactory(username="lee", roles=["lead"])
    UserFactory(username="cora", roles=["committee"])
    shown = []
    who = None
    for username, path in PAGES:
        if username != who:
            page.context.clear_cookies()
            sign_in(page, live_server, username)
            who = username
        page.goto(f"{live_server.url}{path}")
        label = page.locator("label[for=topbar-q]")
        assert label.inner_text() == "Search the failure-mode catalog", path
        assert page.locator(".sr-only").count() == 0, f"{path} uses .sr-only"
        visible = [b for b in page.evaluate(HIDDEN_BOXES) if b["w"] > 1 or b["h"] > 1]
        if visible:
            name = path.strip("/").replace("/", "-")
            page.screenshot(path=str(artifacts / f"visually-hidden-{name}.png"))
            shown.append(f"{path}: {visible}")
    page.goto(f"{live_server.url}/delivery/")
    page.screenshot(path=str(artifacts / "visually-hidden-delivery-topbar.png"))
    assert not shown, "words meant for screen readers show as text:\n" + "\n".join(shown)
