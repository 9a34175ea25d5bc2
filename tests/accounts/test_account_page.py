"""My account: one page for password, two-factor sign-in, API tokens and time zone."""

from __future__ import annotations

import pytest

from reviewapp.core import roles
from reviewapp.core.models import AuditEvent, UserPreference
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests"


@pytest.mark.parametrize("role", [*roles.ROLES, None])
def test_every_signed_in_person_has_my_account_in_the_user_menu(client, role):
    client.force_login(UserFactory(roles=[role] if role else []))
    response = client.get("/account/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/account/">My account</a>' in body
    for part in ("Change your password", "Two-factor sign-in", "Personal API tokens", "Time zone"):
        assert part in body


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/account/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_time_zone_is_saved_audited_and_used(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/account/time-zone/", {"time_zone": "Europe/Amsterdam"})
    assert response.status_code == 302
    assert UserPreference.objects.get(user=user).time_zone == "Europe/Amsterdam"
    event = AuditEvent.objects.get(verb="accounts.preference.changed")
    assert event.before == {"time_zone": "UTC"} and event.after == {"time_zone": "Europe/Amsterdam"}
    page = client.get("/account/").content.decode()
    assert '<option value="Europe/Amsterdam" selected>' in page


def test_an_unknown_time_zone_is_a_400_next_to_the_field(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/account/time-zone/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not UserPreference.objects.filter(user=user).exists()


def test_password_change_is_audited_and_keeps_the_session(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-longer-pass-2026",
            "new_password2": "a-much-longer-pass-2026",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/account/"
    user.refresh_from_db()
    assert user.check_password("a-much-longer-pass-2026")
    assert AuditEvent.objects.filter(verb="accounts.password.changed", target_id=str(user.pk))
    assert client.get("/account/").status_code == 200


def test_a_wrong_old_password_changes_nothing(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        "/account/password/",
        {
            "old_password": "nope",
            "new_password1": "x-long-pass-99",
            "new_password2": "x-long-pass-99",
        },
    )
    assert response.status_code == 200  # Django's view re-renders the form
    assert "incorrectly" in response.content.decode()
    assert not AuditEvent.objects.filter(verb="accounts.password.changed").exists()
