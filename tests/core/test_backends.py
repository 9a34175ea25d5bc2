"""The login backend loads the user, the time-zone preference and (on PostgreSQL) the roles in
one query; what it loads must be what the database says on every request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.core import roles
from reviewapp.core.backends import AccountBackend
from reviewapp.core.models import UserPreference
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_user_comes_with_preference_and_roles():
    user = UserFactory(username="rita", roles=["reviewer", "lead"])
    UserPreference.objects.create(user=user, time_zone="Europe/Amsterdam")
    with CaptureQueriesContext(connection) as queries:
        loaded = AccountBackend().get_user(user.pk)
        assert loaded.preference.time_zone == "Europe/Amsterdam"
        assert roles.user_roles(loaded) == {"reviewer", "lead"}
    assert len(queries) == (1 if connection.vendor == "postgresql" else 2)


def test_user_without_groups_or_preference_has_no_roles():
    user = UserFactory(username="nobody")
    loaded = AccountBackend().get_user(user.pk)
    assert roles.user_roles(loaded) == set()
    assert not hasattr(loaded, "preference")


def test_superuser_has_every_role():
    user = UserFactory(username="root", is_superuser=True)
    assert roles.user_roles(AccountBackend().get_user(user.pk)) == set(roles.ROLES)


def test_a_role_taken_away_is_gone_on_the_next_request(client):
    user = UserFactory(username="lena", roles=["lead"])
    client.force_login(user)
    assert client.get("/queue/escalations/").status_code == 200
    user.groups.remove(Group.objects.get(name="lead"))
    assert client.get("/queue/escalations/").status_code == 403


def test_inactive_or_unknown_users_are_not_loaded():
    user = UserFactory(username="gone", roles=["reviewer"])
    user.is_active = False
    user.save()
    assert AccountBackend().get_user(user.pk) is None
    assert AccountBackend().get_user(999_999) is None


def test_login_form_uses_the_backend(client):
    UserFactory(username="mira", roles=["reviewer"])
    response = client.post(
        "/accounts/login/", {"username": "mira", "password": "pw-for-tests"}, follow=False
    )
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == "reviewapp.core.backends.AccountBackend"
    assert client.get("/queue/").status_code == 200
