"""Pages of the security hardening in a real browser, under the Content-Security-Policy:
the sign-in lockout, the leads' lockout list, and the API docs (Swagger UI from our own files).
Screenshots kept; the `page` fixture fails a test on any CSP violation."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt

from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _fail_sign_in(page, live_server, times: int) -> None:
    for _ in range(times):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "ana")
        page.fill("#id_password", "not-the-password")
        page.click("button[type=submit]")
        page.wait_for_load_state()


def test_ten_failed_sign_ins_show_the_lockout_page(live_server, page, artifacts):
    UserFactory(username="ana", roles=["reviewer"])
    _fail_sign_in(page, live_server, 9)
    assert page.locator(".error-summary").count() == 1  # the ordinary form error
    assert "Too many failed sign-ins" not in page.content()
    responses = []
    page.on(
        "response", lambda r: responses.append(r.status) if r.request.method == "POST" else None
    )
    _fail_sign_in(page, live_server, 2)
    assert responses == [429, 429]
    assert page.locator("h1").inner_text() == "Too many failed sign-ins"
    body = page.locator("main").inner_text()
    assert "failed 10 times in a row" in body and "sign-in is paused until" in body
    page.screenshot(path=str(artifacts / "signin-locked-out.png"), full_page=True)


def test_a_lead_lifts_a_lockout(live_server, page, sign_in, artifacts):
    UserFactory(username="ana", roles=["reviewer"])
    UserFactory(username="lee", roles=["lead"])
    AccessAttempt.objects.create(
        username="ana",
        ip_address="203.0.113.7",
        user_agent="",
        get_data="",
        post_data="",
        http_accept="",
        path_info="/accounts/login/",
        failures_since_start=10,
    )
    sign_in(page, live_server, "lee")
    page.click(".usermenu summary")
    page.click("text=Sign-in lockouts")
    page.wait_for_load_state()
    assert "203.0.113.7" in page.locator("table").inner_text()
    page.screenshot(path=str(artifacts / "signin-lockouts.png"), full_page=True)
    page.click("text=Let ana sign in again")
    page.wait_for_load_state()
    assert "ana may sign in from 203.0.113.7 again." in page.content()
    assert not AccessAttempt.objects.exists()


def test_api_docs_render_swagger_ui_from_our_own_files(live_server, page, artifacts):
    origins = set()
    page.on("request", lambda r: origins.add(r.url.split("/", 3)[2]))
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "Failsafe API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".opblock", timeout=15000)
    assert page.locator(".opblock").count() > 3
    page.screenshot(path=str(artifacts / "api-docs.png"))
    assert origins == {live_server.url.split("/", 3)[2]}  # nothing from a third party


def test_the_policy_blocks_inline_script_and_the_fixture_sees_it(live_server, page, csp_violations):
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.body.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__ran === true") is False
    assert any("Content Security Policy" in v for v in csp_violations)
    csp_violations.clear()  # seen on purpose: the fixture must not fail this test
