"""A reviewer follows a link to another pool's queue and a committee member opens the queue:
both land on the framed 403 that says why and who to ask; screenshots kept."""

from __future__ import annotations

import pytest

from reviewapp.models import PoolMembership
from tests.factories import MLModelFactory, UserFactory, make_policy

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_outside_the_pool_sees_whose_pool_and_who_to_ask(
    live_server, page, sign_in, artifacts
):
    fraud = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"])
    radiology = MLModelFactory(slug="chest-xray", labels=["fraud", "legit"])
    for model in (fraud, radiology):
        make_policy(model)
    radiology.owners.add(UserFactory(username="sam", roles=["engineer"]))
    UserFactory(username="lee", roles=["lead"])
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud, user=ana)

    sign_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/queue/")
    response = page.goto(f"{live_server.url}/queue/?model=chest-xray")
    assert response.status == 403
    page.screenshot(path=str(artifacts / "error-403-outside-pool.png"), full_page=True)
    assert page.locator("header.topbar").is_visible()
    assert page.locator("h1").inner_text() == "You are not in the chest-xray pool"
    assert "the model's owners: sam" in page.inner_text("main")
    page.click("text=Go back")
    page.wait_for_load_state("networkidle")
    assert page.url == f"{live_server.url}/queue/"


def test_a_committee_member_on_the_queue_sees_which_role_it_is_for(
    live_server, page, sign_in, artifacts
):
    UserFactory(username="lee", roles=["lead"])
    UserFactory(username="cora", roles=["committee"])
    sign_in(page, live_server, "cora")
    response = page.goto(f"{live_server.url}/queue/")
    assert response.status == 403
    page.screenshot(path=str(artifacts / "error-403-role.png"), full_page=True)
    text = page.inner_text("main")
    assert "This is for: Reviewer, Lead, Engineer." in text
    assert "ask the lead (lee)" in text
    response = page.goto(f"{live_server.url}/queue/no-such-page/")
    assert response.status == 404
    page.screenshot(path=str(artifacts / "error-404.png"), full_page=True)
    assert page.locator("header.topbar").is_visible()
