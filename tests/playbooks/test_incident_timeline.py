"""An incident's timeline: its own events, its models' modes and alerts, their policy
changes, in time order, in a window, filtered, bounded, in few queries; the page section
and the API."""

from __future__ import annotations

import datetime as dt

import pytest

from playbooks.incidents import services, timeline
from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.failsafe.services.acknowledge import alert_acknowledge
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.governance.models import ChangeRequest
from reviewapp.models import PoolMembership
from tests.factories import MLModelFactory
from tests.failsafe.alert_helpers import make_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def model():
    return MLModelFactory(slug="card-fraud")


@pytest.fixture
def story(people, model):
    """An alert 45 min ago, an incident from it, a note, a person's containment, the alert
    acknowledged, an emergency rollback of the model's policy; and noise outside it."""
    lead = people["lead"]
    alert = make_alert(model, severity="S3", minutes_ago=45)
    incident = services.incident_open(
        actor=lead, title="Drift", severity="S3", model_slugs=[model.slug],
        alert_ids=[alert.pk], impact_started_at=alert.since,
    )  # fmt: skip
    services.incident_note_add(incident=incident, actor=lead, body="Looking at the inputs")
    mode_change(model=model, mode="contained", reason="stop the bleeding", user=lead)
    alert_acknowledge(alert=alert, user=lead, note="mine")
    cr = ChangeRequest.objects.create(
        model_slug=model.slug, document={}, document_hash="x" * 64, rationale="roll back"
    )
    audit_record(
        actor=Actor.user(lead), verb="governance.change_request.rolled_back", target=cr,
        data={"model": model.slug, "kind": "policy", "reason": "bad thresholds"},
    )  # fmt: skip
    other = MLModelFactory(slug="other-model")
    mode_change(model=other, mode="halted", reason="not ours", user=lead)
    return {"incident": incident, "alert": alert, "cr": cr}


def test_everything_in_time_order_with_who_and_links(story):
    entries = timeline.timeline(story["incident"])
    whats = [e.what for e in entries]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert whats[0].startswith(f"Alert #{story['alert'].pk}") and whats[0].endswith("opened")
    assert "Incident opened" in whats
    assert "Note on an incident's timeline" in whats
    assert "card-fraud: mode normal → contained" in whats
    assert any(w.endswith("acknowledged") for w in whats)
    assert f"Change request #{story['cr'].pk}: Emergency rollback" in whats
    assert not any("other-model" in w for w in whats)
    note = next(e for e in entries if e.kind == "notes")
    assert note.who == "lee" and note.detail == "Looking at the inputs"
    opened_alert = entries[0]
    assert opened_alert.who_kind == "monitor" and opened_alert.link.startswith("/failsafe/alerts/")
    policy = next(e for e in entries if e.kind == "policy")
    assert policy.link == f"/governance/requests/{story['cr'].pk}/"
    assert "bad thresholds" in policy.detail


def test_the_order_places_the_containment_after_the_note(story):
    whats = [e.what for e in timeline.timeline(story["incident"])]
    assert whats.index("Note on an incident's timeline") < whats.index(
        "card-fraud: mode normal → contained"
    )


@pytest.mark.parametrize(
    "kind,expected",
    [("notes", {"notes"}), ("modes", {"modes"}), ("policy", {"policy"}),
     ("lifecycle", {"lifecycle"})],
)  # fmt: skip
def test_filters_keep_one_kind(story, kind, expected):
    entries = timeline.timeline(story["incident"], kind=kind)
    assert entries and {e.kind for e in entries} == expected


def test_the_window_leaves_out_what_came_long_before(people, model):
    old = make_alert(model, monitor="ood_rate", minutes_ago=600)
    incident = services.incident_open(
        actor=people["lead"], title="Drift", severity="S3", model_slugs=[model.slug],
        impact_started_at=clock.now() - dt.timedelta(minutes=30),
    )  # fmt: skip
    whats = [e.what for e in timeline.timeline(incident)]
    assert not any(f"#{old.pk}" in w for w in whats)
    start, end = timeline.window(incident)
    assert start == incident.impact_started_at - dt.timedelta(hours=1)


def test_bounded_to_the_newest_entries(story, monkeypatch):
    full = [(e.at, e.what) for e in timeline.timeline(story["incident"])]
    monkeypatch.setattr(timeline, "LIMIT", 3)
    entries = timeline.timeline(story["incident"])
    assert [(e.at, e.what) for e in entries] == full[-3:]


def test_few_queries_however_much_there_is(story, people, django_assert_max_num_queries):
    incident = story["incident"]
    for i in range(20):
        services.incident_note_add(incident=incident, actor=people["lead"], body=f"note {i}")
    with django_assert_max_num_queries(6):
        entries = timeline.timeline(incident)
    assert len(entries) > 20


@pytest.mark.parametrize("who", ["engineer", "lead", "committee", "reviewer_in_pool"])
def test_the_section_on_the_page_for_each_reader(client, people, model, story, who):
    if who == "reviewer_in_pool":
        PoolMembership.objects.create(user=people["reviewer"], model=model)
        who = "reviewer"
    client.force_login(people[who])
    page = client.get(story["incident"].get_absolute_url())
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="timeline"' in body and "Looking at the inputs" in body
    assert "Modes &amp; alerts" in body
    filtered = client.get(story["incident"].get_absolute_url() + "?timeline=policy").content
    assert b"Emergency rollback" in filtered and b"Looking at the inputs" not in filtered


def test_a_reviewer_outside_the_pools_gets_404(client, people, story):
    client.force_login(people["reviewer"])
    assert client.get(story["incident"].get_absolute_url()).status_code == 404
    url = f"/api/v1/incidents/{story['incident'].pk}/timeline"
    assert client.get(url).status_code == 404


def test_the_api_pages_the_timeline(client, people, story):
    client.force_login(people["committee"])
    url = f"/api/v1/incidents/{story['incident'].pk}/timeline"
    body = client.get(url + "?limit=2").json()
    assert body["count"] >= 6 and len(body["results"]) == 2
    assert set(body["results"][0]) == {"at", "kind", "what", "who", "who_kind", "detail", "link"}
    notes = client.get(url + "?kind=notes").json()["results"]
    assert [n["detail"] for n in notes] == ["Looking at the inputs"]
    assert client.get(url + "?kind=nope").status_code == 400
    assert client.get(url + "?offset=-1").status_code == 400
    assert client.get("/api/v1/incidents/999999/timeline").status_code == 404
    client.force_login(people["nobody"])
    assert client.get(url).status_code == 403


def test_the_page_pays_the_same_queries_however_long_the_timeline(client, people, story):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    incident = story["incident"]
    client.force_login(people["engineer"])
    client.get(incident.get_absolute_url())  # warm per-process caches
    with CaptureQueriesContext(connection) as before:
        client.get(incident.get_absolute_url())
    for i in range(15):
        services.incident_note_add(incident=incident, actor=people["lead"], body=f"n{i}")
    with CaptureQueriesContext(connection) as after:
        body = client.get(incident.get_absolute_url()).content.decode()
    assert "n14" in body
    assert len(after.captured_queries) == len(before.captured_queries)
