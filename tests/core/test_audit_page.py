"""The audit page: who may read it, its filters, an event's detail, the export."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from reviewapp.core.audit import Actor, audit_record, audit_seal, audit_verify_and_record
from reviewapp.core.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(db):
    ana = Actor.system("ana-bot")
    audit_record(
        actor=ana,
        verb="queue.pool.member_added",
        target=("reviewapp.mlmodel", 7),
        before=None,
        after={"user": "ana"},
        data={"user": 3},
    )
    audit_record(
        actor=Actor.system("router"),
        verb="queue.prediction.routed",
        target=("reviewapp.mlmodel", 8),
        data={"ids": [41, 42]},
        subjects={"reviewapp.prediction": [41, 42]},
    )
    audit_seal()


@pytest.fixture
def lead_client(client):
    client.force_login(UserFactory(username="lena", roles=["lead"]))
    return client


@pytest.mark.parametrize(("role", "status"), [("lead", 200), ("committee", 200)])
def test_leads_and_the_committee_read_the_log(client, log, role, status):
    client.force_login(UserFactory(username=f"u-{role}", roles=[role]))
    assert client.get("/audit/").status_code == status


@pytest.mark.parametrize("role", ["reviewer", "engineer", "catalog_editor"])
def test_other_roles_may_not(client, log, role):
    client.force_login(UserFactory(username=f"u-{role}", roles=[role]))
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.jsonl").status_code == 403
    event = AuditEvent.objects.first()
    assert client.get(f"/audit/{event.pk}/").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get("/audit/").status_code == 302


def test_the_page_lists_events_and_the_chain_status(lead_client, log):
    audit_verify_and_record(trigger="command")
    page = lead_client.get("/audit/").content.decode()
    assert "Routed to review" in page and "queue.prediction.routed" in page
    assert "Added to a pool" in page
    assert "intact" in page and "Last verified" in page


def test_filters(lead_client, log):
    def ids(query: str) -> list[str]:
        response = lead_client.get("/audit/?" + query)
        assert response.status_code == 200, response.content
        return [e.verb for e in response.context["page"].object_list]

    assert "queue.pool.member_added" in ids("actor=ANA-BOT")
    assert "queue.prediction.routed" not in ids("actor=ana-bot")
    assert ids("verb=queue.prediction.routed") == ["queue.prediction.routed"]
    # A legacy name finds the events written under either name.
    assert ids("verb=prediction.routed") == ["queue.prediction.routed"]
    # A subject of a batch event finds the event.
    assert ids("target_type=reviewapp.prediction&target_id=41") == ["queue.prediction.routed"]
    assert ids("target_type=reviewapp.mlmodel&target_id=7") == ["queue.pool.member_added"]
    today = timezone.localdate().isoformat()
    assert len(ids(f"since={today}")) >= 2
    assert ids("until=2000-01-01") == []
    assert (
        ids("actor_type=user")
        == [v for v in AuditEvent.objects.filter(actor_type="user").values_list("verb", flat=True)][
            ::-1
        ]
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("verb=not.a.verb", "verb"),
        ("since=yesterday", "since"),
        ("until=2026-13-40", "until"),
        ("target_id=41", "target_type"),
        ("target_type=Robert'); DROP", "target_type"),
        ("actor_type=robot", "actor_type"),
        ("page=abc", "page"),
        ("page=0", "page"),
        ("since=2026-02-02&until=2026-02-01", "until"),
        ("actor=" + "x" * 200, "actor"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(lead_client, log, query, field):
    for url in ("/audit/?", "/audit/export.jsonl?"):
        response = lead_client.get(url + query)
        assert response.status_code == 400
        assert f"<code>{field}</code>" in response.content.decode()


def test_a_page_past_the_end_shows_the_last_page(lead_client, log):
    assert lead_client.get("/audit/?page=999").status_code == 200


def test_an_event_shows_its_before_after_subjects_and_seal(lead_client, log):
    routed = AuditEvent.objects.get(verb="queue.prediction.routed")
    page = lead_client.get(f"/audit/{routed.pk}/").content.decode()
    assert "reviewapp.prediction:41" in page and "reviewapp.prediction:42" in page
    assert "key dev" in page
    added = AuditEvent.objects.get(verb="queue.pool.member_added")
    page = lead_client.get(f"/audit/{added.pk}/").content.decode()
    assert "&quot;user&quot;: &quot;ana&quot;" in page
    assert lead_client.get("/audit/999999/").status_code == 404


def test_export_streams_the_filtered_log_as_json_lines(lead_client, log, settings):
    response = lead_client.get("/audit/export.jsonl?verb=queue.prediction.routed")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [row["verb"] for row in lines] == ["queue.prediction.routed"]
    assert lines[0]["seal"]["key_id"] == "dev" and lines[0]["data"] == {"ids": [41, 42]}


def test_export_is_bounded(lead_client, log, settings):
    settings.AUDIT_EXPORT_MAX_ROWS = 1
    response = lead_client.get("/audit/export.jsonl")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert len(lines) == 2 and lines[-1] == {"truncated": True, "limit": 1}


def test_the_user_menu_offers_the_page_to_leads(lead_client, log):
    assert 'href="/audit/"' in lead_client.get("/audit/").content.decode()
