"""Two-factor sign-in: enrolment, the second step, recovery codes, and who must use it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviewapp.accounts import services
from reviewapp.accounts.models import RecoveryCode
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.core.tokens import token_digest
from tests.core.test_settings import _python
from tests.factories import UserFactory

from .conftest import current_code

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests"


def sign_in(client, user):
    return client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})


# --- services -------------------------------------------------------------------------------
def test_enrolment_needs_the_current_code_and_writes_nothing_without_it():
    user = UserFactory()
    key = services.totp_key_new()
    with pytest.raises(ServiceError) as exc:
        services.two_factor_enrol(user=user, key=key, code="000000x")
    assert "code" in exc.value.errors
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not AuditEvent.objects.filter(verb__startswith="accounts.").exists()


def test_enrolment_stores_recovery_codes_only_as_digests_and_is_audited(enrolled):
    user = UserFactory()
    _key, codes = enrolled(user)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(RecoveryCode.objects.filter(device__user=user).values_list("digest", flat=True))
    assert sorted(stored) == sorted(token_digest(c.replace("-", "")) for c in codes)
    assert not any(c in d or c.replace("-", "") in d for c in codes for d in stored)
    event = AuditEvent.objects.get(verb="accounts.two_factor.enrolled")
    assert event.target_id == str(user.pk) and event.actor_id == str(user.pk)
    assert codes[0] not in str(event.after) + str(event.data)


def test_a_recovery_code_works_once_and_its_use_is_audited(enrolled):
    user = UserFactory()
    _key, codes = enrolled(user)
    typed = codes[3].upper().replace("-", " ")  # as someone might type it
    assert services.second_factor_verify(user=user, code=typed) is not None
    assert services.second_factor_verify(user=user, code=codes[3]) is None
    event = AuditEvent.objects.get(verb="accounts.two_factor.recovery_code_used")
    assert event.after == {"recovery_codes_left": 9}


def test_an_authenticator_code_works_and_cannot_be_replayed(enrolled):
    user = UserFactory()
    key, _codes = enrolled(user)
    # the code used to enrol is spent; the next step's code signs in once
    assert services.second_factor_verify(user=user, code=current_code(key)) is None
    code = current_code(key, offset=1)
    assert services.second_factor_verify(user=user, code=code) is not None
    assert services.second_factor_verify(user=user, code=code) is None


def test_after_a_wrong_code_even_the_right_one_waits(enrolled, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    user = UserFactory()
    key, _codes = enrolled(user)
    wrong = "000000" if current_code(key, offset=1) != "000000" else "111111"
    assert services.second_factor_verify(user=user, code=wrong) is None
    # the failure was counted (committed, not rolled back with the refusal)
    assert TOTPDevice.objects.get(user=user).throttling_failure_count == 1
    assert services.second_factor_verify(user=user, code=current_code(key, offset=1)) is None


def test_new_recovery_codes_replace_the_old_ones(enrolled):
    user = UserFactory()
    _key, old = enrolled(user)
    new = services.recovery_codes_regenerate(user=user)
    assert services.second_factor_verify(user=user, code=old[0]) is None
    assert services.second_factor_verify(user=user, code=new[0]) is not None
    assert AuditEvent.objects.filter(verb="accounts.two_factor.recovery_codes_regenerated").exists()


def test_removal_takes_the_authenticator_and_the_codes_and_is_audited(enrolled):
    user = UserFactory()
    enrolled(user)
    services.two_factor_remove(user=user)
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(device__user=user).exists()
    assert AuditEvent.objects.filter(verb="accounts.two_factor.removed").count() == 1


# --- the sign-in flow -----------------------------------------------------------------------
def test_without_a_device_or_a_requirement_sign_in_is_one_step(client):
    user = UserFactory(roles=["reviewer"])
    response = sign_in(client, user)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/account/").status_code == 200


def test_a_person_with_an_authenticator_gets_a_second_step(client, enrolled):
    user = UserFactory(roles=["lead"])
    key, _codes = enrolled(user)
    sign_in(client, user)
    response = client.get("/queue/")
    assert response.status_code == 302
    assert response["Location"] == "/account/sign-in/code/?next=%2Fqueue%2F"
    # the API does not take the half-finished session either: nobody is signed in there
    assert client.get("/api/v1/queue/items").status_code == 401
    page = client.get(response["Location"])
    assert page.status_code == 200 and "authenticator app" in page.content.decode()
    wrong = client.post("/account/sign-in/code/", {"code": "000000", "next": "/queue/"})
    assert wrong.status_code == 400 and "did not work" in wrong.content.decode()
    right = client.post(
        "/account/sign-in/code/", {"code": current_code(key, offset=1), "next": "/queue/"}
    )
    assert right.status_code == 302 and right["Location"] == "/queue/"
    assert client.get("/queue/").status_code == 200
    assert client.get("/api/v1/queue/items").status_code == 200


def test_a_recovery_code_signs_in_and_says_how_many_are_left(client, enrolled):
    user = UserFactory(roles=["reviewer"])
    _key, codes = enrolled(user)
    sign_in(client, user)
    response = client.post("/account/sign-in/code/", {"code": codes[0]}, follow=True)
    assert response.status_code == 200
    assert "9 codes are left" in response.content.decode()


def test_the_second_step_refuses_an_outside_next_url(client, enrolled):
    user = UserFactory()
    key, _codes = enrolled(user)
    sign_in(client, user)
    response = client.post(
        "/account/sign-in/code/",
        {"code": current_code(key, offset=1), "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


@override_settings(OTP_REQUIRED_ROLES=["lead", "committee", "superuser"])
def test_a_role_that_requires_it_must_enrol_before_anything_else(client):
    user = UserFactory(roles=["lead"])
    sign_in(client, user)
    for path in ("/", "/queue/", "/account/", "/catalog/", "/account/tokens/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/account/two-factor/"), path
    assert client.post("/account/tokens/", {"name": "x", "days": 7}).status_code == 302
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body and "Your role needs a second step" in body
    key = client.session["accounts.pending_totp_key"]
    response = client.post("/account/two-factor/", {"code": current_code(key), "next": "/queue/"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("max-age=0")
    assert "no-store" in response.headers["Cache-Control"]
    assert "shown only once" in response.content.decode()
    assert client.get("/queue/").status_code == 200


@override_settings(OTP_REQUIRED_ROLES=["superuser"])
def test_superusers_can_be_required_by_name(client):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "r@example.com", PASSWORD)
    sign_in(client, admin)
    assert client.get("/").headers["Location"].startswith("/account/two-factor/")
    other = UserFactory(roles=["reviewer"])
    client.logout()
    sign_in(client, other)
    assert client.get("/account/").status_code == 200


@override_settings(OTP_REQUIRED_ROLES=["lead"])
def test_a_signed_in_lead_whose_device_was_removed_is_sent_to_enrol_again(client, enrolled):
    user = UserFactory(roles=["lead"])
    key, _codes = enrolled(user)
    sign_in(client, user)
    client.post("/account/sign-in/code/", {"code": current_code(key, offset=1)})
    assert client.get("/account/").status_code == 200
    response = client.post("/account/two-factor/remove/", {"password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/account/").headers["Location"].startswith("/account/two-factor/")


def test_removal_and_new_codes_ask_for_the_password(client, enrolled):
    user = UserFactory()
    key, _codes = enrolled(user)
    sign_in(client, user)
    client.post("/account/sign-in/code/", {"code": current_code(key, offset=1)})
    wrong = client.post("/account/two-factor/remove/", {"password": "nope"})
    assert wrong.status_code == 400 and "not your password" in wrong.content.decode()
    assert TOTPDevice.objects.filter(user=user).exists()
    codes = client.post("/account/two-factor/recovery-codes/", {"password": PASSWORD})
    assert codes.status_code == 200 and "no-store" in codes.headers["Cache-Control"]
    assert RecoveryCode.objects.filter(device__user=user).count() == 10


def test_a_device_set_up_in_another_session_reaches_this_one(client, enrolled, settings):
    settings.OTP_DEVICE_RECHECK_SECONDS = 0
    user = UserFactory()
    sign_in(client, user)
    assert client.get("/account/").status_code == 200
    enrolled(user)
    assert client.get("/account/").status_code == 302


# --- configuration --------------------------------------------------------------------------
def test_an_unknown_role_in_the_setting_is_a_check_error(settings):
    settings.OTP_REQUIRED_ROLES = ["lead", "admins"]
    with pytest.raises(Exception, match="admins"):
        call_command("check")


def test_production_requires_leads_committee_and_superusers_and_debug_none(tmp_path):
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'reviewapp.settings'\n"
        "from django.conf import settings; print(settings.OTP_REQUIRED_ROLES)\n"
    )
    prod = _python(code, FAILSAFE_VAR_DIR=str(tmp_path))
    assert prod.stdout.strip() == "['lead', 'committee', 'superuser']", prod.stderr
    dev = _python(code, FAILSAFE_VAR_DIR=str(tmp_path), DEBUG="1")
    assert dev.stdout.strip() == "[]", dev.stderr


def test_an_operator_can_reset_someone_who_lost_phone_and_codes(enrolled):
    user = UserFactory(username="kim")
    enrolled(user)
    call_command("two_factor_reset", "kim")
    assert not TOTPDevice.objects.filter(user=user).exists()
    event = AuditEvent.objects.get(verb="accounts.two_factor.removed")
    assert event.actor_type == "system" and event.target_id == str(user.pk)
