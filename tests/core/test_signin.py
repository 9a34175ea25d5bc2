"""Sign-in throttling: ten failures for one username from one address lock that pair out."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from reviewapp.core.models import AuditEvent
from tests.factories import UserFactory

LOGIN = "/accounts/login/"
PASSWORD = "pw-for-tests"


def _try(client: Client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", roles=["reviewer"])


def test_the_eleventh_attempt_is_refused_with_429_and_a_page_in_plain_words(ana, lead):
    client = Client()
    for _attempt in range(9):
        response = _try(client, "ana", "wrong")
        assert response.status_code == 200  # the sign-in form again, with its error
        assert b"Too many failed sign-ins" not in response.content
    tenth = _try(client, "ana", "wrong")
    assert tenth.status_code == 429  # this failure reached the limit: the page says so at once
    eleventh = _try(client, "ana", PASSWORD)  # even the right password
    assert eleventh.status_code == 429
    text = eleventh.content.decode()
    assert "Too many failed sign-ins" in text
    assert "failed 10 times in a row" in text
    assert "sign-in is paused until" in text
    assert "even with the right password" in text
    assert "ask a lead" in text
    assert int(eleventh["Retry-After"]) > 14 * 60
    assert "_auth_user_id" not in client.session
    # Audited once, however many attempts were refused.
    events = AuditEvent.objects.filter(verb="core.signin.locked_out")
    assert events.count() == 1
    event = events.get()
    assert event.data["username"] == "ana" and event.data["ip_address"] == "203.0.113.7"
    assert event.data["failures"] == 10
    assert "wrong" not in str(event.data) and PASSWORD not in str(event.data)


def test_the_lockout_is_per_username_and_address(ana):
    bob = UserFactory(username="bob", roles=["reviewer"])
    client = Client()
    for _attempt in range(10):
        _try(client, "ana", "wrong")
    assert _try(client, "ana", PASSWORD).status_code == 429
    # Another address may still sign in as ana; the same address as someone else too.
    assert _try(Client(), "ana", PASSWORD, ip="198.51.100.2").status_code == 302
    assert _try(Client(), bob.username, PASSWORD).status_code == 302


def test_a_success_before_the_limit_forgets_the_failures(ana):
    client = Client()
    for _attempt in range(9):
        _try(client, "ana", "wrong")
    assert _try(client, "ana", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="ana").exists()


def test_the_lockout_ends_after_fifteen_minutes(ana):
    client = Client()
    for _attempt in range(10):
        _try(client, "ana", "wrong")
    AccessAttempt.objects.filter(username="ana").update(
        attempt_time=timezone.now() - dt.timedelta(minutes=15, seconds=1)
    )
    assert _try(Client(), "ana", PASSWORD).status_code == 302


def test_attempts_during_the_lockout_do_not_extend_it(ana):
    client = Client()
    for _attempt in range(10):
        _try(client, "ana", "wrong")
    locked_at = AccessAttempt.objects.get(username="ana").attempt_time
    for _attempt in range(3):
        assert _try(client, "ana", "wrong").status_code == 429
    assert AccessAttempt.objects.get(username="ana").attempt_time == locked_at


def test_a_lead_sees_the_lockout_and_clears_it(ana, lead):
    for _attempt in range(10):
        _try(Client(), "ana", "wrong")
    leader = Client()
    leader.force_login(lead)
    page = leader.get("/accounts/lockouts/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "ana" in text and "203.0.113.7" in text
    lockout = AccessAttempt.objects.get(username="ana")
    done = leader.post(f"/accounts/lockouts/{lockout.pk}/clear", follow=True)
    assert "ana may sign in from 203.0.113.7 again." in done.content.decode()
    assert "Nobody is locked out" in done.content.decode()
    event = AuditEvent.objects.get(verb="core.signin.lockout_cleared")
    assert event.actor_label == "lee" and event.data["username"] == "ana"
    assert _try(Client(), "ana", PASSWORD).status_code == 302
    # Clearing it again: a clear message, not a 500.
    again = leader.post(f"/accounts/lockouts/{lockout.pk}/clear", follow=True)
    assert "already ended or was cleared" in again.content.decode()


def test_only_leads_see_the_lockouts_page_and_it_is_in_their_menu(ana, lead):
    client = Client()
    client.force_login(ana)
    assert client.get("/accounts/lockouts/").status_code == 403
    assert client.post("/accounts/lockouts/1/clear").status_code == 403
    assert "/accounts/lockouts/" not in client.get("/").content.decode()
    client.force_login(lead)
    assert "/accounts/lockouts/" in client.get("/queue/").content.decode()
    assert Client().get("/accounts/lockouts/").status_code == 302  # to sign-in
