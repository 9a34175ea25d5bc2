"""A lead filters the audit log, opens an event and sees the chain's last verification."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from reviewapp.core.audit import Actor, audit_record, audit_seal_all, audit_verify_and_record
from reviewapp.core.models import AuditEvent
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_lead_filters_the_audit_log_and_opens_an_event(live_server, page, sign_in, artifacts):
    lee = UserFactory(username="lee", roles=["lead"])
    ana = UserFactory(username="ana", roles=["reviewer"])
    ana.groups.add(Group.objects.get(name="committee"))
    for n in range(3):
        audit_record(
            actor=Actor.user(lee),
            verb="queue.pool.member_added",
            target=("reviewapp.mlmodel", n + 1),
            after={"user": "ana", "model": f"model-{n + 1}"},
            data={"user": ana.pk},
        )
    audit_record(
        actor=Actor.system("router"),
        verb="queue.prediction.routed",
        target=("reviewapp.mlmodel", 1),
        data={"ids": [41, 42, 43]},
        subjects={"reviewapp.prediction": [41, 42, 43]},
    )
    audit_seal_all()
    audit_verify_and_record(trigger="command")

    sign_in(page, live_server, "lee")
    page.goto(f"{live_server.url}/")
    assert page.locator("a[href='/audit/']").count() >= 1
    page.goto(f"{live_server.url}/audit/")
    assert "intact" in page.locator(".audit-chain").inner_text()
    page.screenshot(path=str(artifacts / "audit-list.png"), full_page=True)
    total = AuditEvent.objects.count()
    assert page.locator("table.audit-table tbody tr").count() == total

    page.select_option("#id_verb", "core.user.group_added")
    page.click(".audit-filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    rows = page.locator("table.audit-table tbody tr")
    assert rows.count() == AuditEvent.objects.filter(verb="core.user.group_added").count()
    assert "Added to a role group" in rows.first.inner_text()

    page.goto(f"{live_server.url}/audit/?target_type=reviewapp.prediction&target_id=42")
    assert page.locator("table.audit-table tbody tr").count() == 1
    page.click("table.audit-table tbody tr a >> nth=0")
    page.wait_for_load_state("networkidle")
    assert "reviewapp.prediction:43" in page.content()
    page.screenshot(path=str(artifacts / "audit-event.png"), full_page=True)

    page.goto(f"{live_server.url}/audit/?since=yesterday")
    assert "From" in page.locator(".error-summary").inner_text()
    page.screenshot(path=str(artifacts / "audit-bad-filter.png"), full_page=True)
