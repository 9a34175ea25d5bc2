"""A lead follows a failing webhook in the delivery log and retries it; screenshots kept."""

from __future__ import annotations

import pytest

from reviewapp.delivery import services
from reviewapp.delivery.models import Delivery
from reviewapp.models import Decision
from tests.delivery.conftest import hooked_model, receiver  # noqa: F401 - fixtures
from tests.delivery.factories import make_decision, make_item
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_lead_sees_a_failed_delivery_and_retries_it(
    live_server,
    page,
    sign_in,
    artifacts,
    hooked_model,  # noqa: F811
    receiver,  # noqa: F811
):
    ana = UserFactory(username="ana", roles=["reviewer"])
    UserFactory(username="lee", roles=["lead"])
    receiver.fail_first(2, code=503)
    failing = make_item(hooked_model, external_id="txn-900")
    make_decision(failing, ana, action=Decision.Action.OVERRIDE, final_label="legit")
    for n in range(3):
        make_decision(make_item(hooked_model, external_id=f"txn-{n}"), ana)
    services.deliveries_enqueue()
    services.deliveries_send_due(time_budget=10)
    # Mark the first one failed as if its day of retries had run out.
    row = Delivery.objects.get(decision__item=failing)
    Delivery.objects.filter(pk=row.pk).update(status="failed", next_attempt_at=None)

    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/delivery/")
    page.screenshot(path=str(artifacts / "delivery-list.png"), full_page=True)
    assert page.locator("table.table tbody tr").count() == 4

    page.click(".delivery-filters a:has-text('Failed')")
    page.wait_for_load_state("networkidle")
    assert page.locator("table.table tbody tr").count() == 1
    page.click(f"a[href='/delivery/items/{failing.pk}/']")
    page.wait_for_load_state("networkidle")
    assert "The receiver answered HTTP 503" in page.content()
    page.screenshot(path=str(artifacts / "delivery-item.png"), full_page=True)

    page.click("button:has-text('Retry now')")
    page.wait_for_load_state("networkidle")
    assert "queued to be sent again" in page.content()
    row.refresh_from_db()
    assert row.status == "pending"

    page.goto(f"{live_server.url}/delivery/export/?download=1&since=soon")
    page.screenshot(path=str(artifacts / "delivery-export-error.png"), full_page=True)
    assert "Not a date: soon" in page.content()
