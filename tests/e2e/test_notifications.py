"""A lead hears of a sign-in lockout under the bell, opens the notifications page, follows one
to the lockouts page, marks the rest read and turns email off on My account; screenshots of
the bell with a count, the page and the preferences section are kept."""

from __future__ import annotations

import pytest
from django.test import Client

from reviewapp.core import notifications
from reviewapp.core.models import Notification, NotificationPreference
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_lead_sees_the_bell_follows_a_notification_and_marks_all_read(
    live_server, page, sign_in, artifacts
):
    lead = UserFactory(username="lee", roles=["lead"], email="lee@example.org")
    UserFactory(username="ana", roles=["reviewer"])
    # Ten failed sign-ins lock ana out: the leads are told.
    client = Client()
    for _attempt in range(10):
        client.post(
            "/accounts/login/", {"username": "ana", "password": "wrong"}, REMOTE_ADDR="203.0.113.7"
        )
    notifications.notify(
        recipients=[lead],
        kind="core.signin.locked_out",
        title="Sign-in locked out: bob",
        body="An earlier lockout, with **Markdown**.",
        markdown=True,
    )
    assert Notification.objects.filter(recipient=lead, read_at__isnull=True).count() == 2

    sign_in(page, live_server, "lee")
    bell = page.locator("a.bell")
    assert bell.locator(".bell-count").inner_text() == "2"
    assert "2 unread" in bell.inner_text()
    page.locator(".topbar").screenshot(path=str(artifacts / "notifications-bell.png"))

    bell.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/notifications/")
    items = page.locator("#notifications li")
    assert items.count() == 2
    assert "Sign-in locked out: bob" in items.nth(0).inner_text()  # newest first
    assert "Sign-in locked out: ana" in items.nth(1).inner_text()
    assert page.locator("#notifications strong:has-text('Markdown')").count() == 1
    page.screenshot(path=str(artifacts / "notifications-page.png"), full_page=True)

    # Following one marks it read and opens its page.
    items.nth(1).locator("button.title").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/accounts/lockouts/")
    assert page.locator("a.bell .bell-count").inner_text() == "1"

    page.goto(f"{live_server.url}/notifications/")
    page.click("button:has-text('Mark all read')")
    page.wait_for_load_state("networkidle")
    assert page.locator("a.bell .bell-count").count() == 0
    assert page.locator("#notifications li.unread").count() == 0

    # My account: lockouts in the app only, no email.
    page.goto(f"{live_server.url}/account/#h-notifications")
    page.uncheck("input[name='notify-core.signin.locked_out:email']")
    page.click("button:has-text('Save notification settings')")
    page.wait_for_load_state("networkidle")
    assert "Notification settings saved." in page.inner_text("main")
    page.locator("section[aria-labelledby=h-notifications]").screenshot(
        path=str(artifacts / "notifications-preferences.png")
    )
    pref = NotificationPreference.objects.get(user=lead, kind="core.signin.locked_out")
    assert (pref.in_app, pref.email) == (True, False)
