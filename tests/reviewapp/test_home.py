"""Where each role lands after signing in: a page it can use, never 'no role yet'."""

import pytest

from reviewapp.core import roles
from tests.factories import UserFactory


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("groups", "landing"),
    [
        ([roles.REVIEWER], "/queue/"),
        ([roles.LEAD], "/queue/"),
        ([roles.ENGINEER], "/catalog/"),
        ([roles.CATALOG_EDITOR], "/catalog/"),
        ([roles.COMMITTEE], "/governance/"),
        ([roles.COMMITTEE, roles.ENGINEER], "/catalog/"),
    ],
)
def test_each_role_lands_on_a_page_it_uses(client, groups, landing):
    client.force_login(UserFactory(roles=groups))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == landing
    assert client.get(landing).status_code == 200


@pytest.mark.django_db
def test_a_user_without_a_role_is_told_what_to_do(client):
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 200
    assert "Ask a lead" in response.content.decode()
