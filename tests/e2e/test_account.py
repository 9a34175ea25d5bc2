"""A lead whose role requires two-factor sign-in sets it up, saves recovery codes, makes an
API token and signs in again with a code; screenshots of each step are kept."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from reviewapp.accounts.models import PersonalToken
from tests.accounts.conftest import current_code
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _key_hex(page) -> str:
    secret = page.text_content("#totp-secret").replace(" ", "").strip()
    return base64.b32decode(secret).hex()


def test_lead_enrols_saves_codes_makes_a_token_and_signs_in_with_a_code(
    live_server, page, sign_in, artifacts, settings
):
    settings.OTP_REQUIRED_ROLES = ["lead", "committee", "superuser"]
    UserFactory(username="lee", roles=["lead"])

    # Password first; the role requires a second factor, so set-up comes before anything else.
    sign_in(page, live_server, "lee")
    assert "/account/two-factor/" in page.url
    assert page.locator(".qr svg").count() == 1
    page.click("summary:has-text('I cannot scan the QR code')")
    page.screenshot(path=str(artifacts / "account-enrol.png"), full_page=True)
    page.goto(f"{live_server.url}/queue/")
    assert "/account/two-factor/" in page.url  # nothing else until enrolled

    key = _key_hex(page)
    page.fill("#id_code", current_code(key))
    page.click("button:has-text('Turn on two-factor sign-in')")
    page.wait_for_load_state("networkidle")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    page.screenshot(path=str(artifacts / "account-recovery-codes.png"), full_page=True)
    page.click("a:has-text('I have saved my recovery codes')")
    page.wait_for_load_state("networkidle")

    # My account from the user menu; a token is shown once.
    page.click(".usermenu summary")
    page.click(".usermenu a:has-text('My account')")
    page.wait_for_load_state("networkidle")
    assert "since" in page.inner_text("main")
    page.fill("#id_name", "on-call script")
    page.select_option("#id_days", "30")
    page.click("button:has-text('Create token')")
    page.wait_for_load_state("networkidle")
    token = page.inner_text("#new-token")
    assert token.startswith("fsp_")
    page.screenshot(path=str(artifacts / "account-token-created.png"), full_page=True)
    page.click("a:has-text('I have copied the token')")
    page.wait_for_load_state("networkidle")
    assert token not in page.content()
    page.screenshot(path=str(artifacts / "account-page.png"), full_page=True)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/queue/items").status_code == 200
    assert PersonalToken.objects.get().last_used_at is not None

    # Signing in again: the password, then a code.
    page.click(".usermenu summary")
    page.click(".usermenu button:has-text('Sign out')")
    page.wait_for_load_state("networkidle")
    sign_in(page, live_server, "lee")
    assert "/account/sign-in/code/" in page.url
    page.screenshot(path=str(artifacts / "account-second-step.png"), full_page=True)
    page.fill("#id_code", "000000" if current_code(key, offset=1) != "000000" else "111111")
    page.click("button:has-text('Continue')")
    page.wait_for_load_state("networkidle")
    assert "did not work" in page.content()
    page.screenshot(path=str(artifacts / "account-second-step-error.png"), full_page=True)
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the next try would otherwise wait a second
    page.fill("#id_code", current_code(key, offset=1))
    page.click("button:has-text('Continue')")
    page.wait_for_load_state("networkidle")
    assert "/account/sign-in/code/" not in page.url and "/account/two-factor/" not in page.url
    page.goto(f"{live_server.url}/queue/")
    assert page.url.endswith("/queue/")
