"""Communication drafts filled from the incident, impact so far, recording a draft as sent
(the next update falls due), the header's "Next update due", and the checklist and
communications pages and API for each role."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from playbooks import services as playbook_services
from playbooks.incidents import communications, figures, services, steps
from playbooks.models import IncidentStep
from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent, AuditSubject
from reviewapp.models import Mode, ModelMode, PoolMembership, Prediction
from tests.factories import MLModelFactory, UserFactory

from .test_incident_checklist import runbook

pytestmark = pytest.mark.django_db


@pytest.fixture
def model():
    return MLModelFactory(slug="card-fraud")


@pytest.fixture
def playbook(catalog, people):
    p = playbook_services.playbook_create(actor=people["engineer"], document=runbook())
    playbook_services.playbook_transition(playbook=p, actor=people["lead"], event="publish")
    p.refresh_from_db()
    return p


@pytest.fixture
def incident(people, model, playbook):
    return services.incident_open(
        actor=people["engineer"], title="Fraud scores drifting", severity="S2",
        model_slugs=[model.slug], playbook_slug=playbook.slug,
        failure_mode_slugs=["currency-mix-drift"],
        impact_started_at=clock.now() - dt.timedelta(hours=2, minutes=5),
    )  # fmt: skip


def prediction(model, n, status, at):
    return Prediction.objects.create(
        model=model, external_id=f"p{n}", model_version="1", input={}, output={}, label="x",
        confidence=0.9, occurred_at=at, received_at=at, status=status,
    )  # fmt: skip


def test_impact_so_far_counts_passed_predictions_in_the_window_in_one_query(
    people, model, incident, django_assert_num_queries
):
    now = clock.now()
    prediction(model, 1, Prediction.Status.PASSED, now - dt.timedelta(hours=1))
    prediction(model, 2, Prediction.Status.PASSED, now - dt.timedelta(minutes=5))
    prediction(model, 3, Prediction.Status.IN_REVIEW, now - dt.timedelta(minutes=5))
    prediction(model, 4, Prediction.Status.PASSED, now - dt.timedelta(hours=3))  # before
    prediction(MLModelFactory(slug="other"), 5, Prediction.Status.PASSED, now)  # not its model
    ModelMode.objects.create(model=model, mode=Mode.CONTAINED)
    # The incident's model ids (as values: the window is then read from the index), the
    # ledger's count, its re-review progress, and the models' modes.
    with django_assert_num_queries(4):
        words = figures.impact_so_far(incident)
    assert (
        words
        == "2 h 5 min since impact started; card-fraud contained; 2 predictions passed unreviewed"
    )


def test_impact_stops_at_containment(people, model):
    start = clock.now() - dt.timedelta(hours=3)
    incident = services.incident_open(
        actor=people["engineer"], title="Late", severity="S3", model_slugs=[model.slug],
        impact_started_at=start, detected_at=start + dt.timedelta(minutes=10),
    )  # fmt: skip
    services.incident_transition(
        incident=incident, event="contain", actor=people["engineer"],
        at=start + dt.timedelta(hours=1),
    )  # fmt: skip
    prediction(model, 1, Prediction.Status.PASSED, start + dt.timedelta(minutes=30))
    prediction(model, 2, Prediction.Status.PASSED, clock.now() - dt.timedelta(minutes=1))
    incident.refresh_from_db()
    words = figures.impact_so_far(incident)
    assert words.startswith("1 h from impact to containment")
    assert words.endswith("; 1 prediction passed unreviewed")


def test_drafts_are_filled_from_the_pinned_versions_templates(people, model, incident):
    ModelMode.objects.create(model=model, mode=Mode.CONTAINED)
    incident.next_update_at = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)
    drafts = {d.kind: d.text for d in communications.incident_drafts(incident)}
    assert drafts["status_update"] == (
        "[S2] card-fraud is contained. Next update 2026-12-02 15:00 UTC."
    )
    assert drafts["stakeholder_notice"].startswith("card-fraud: 2 h 5 min since impact started")
    assert (
        drafts["resolution_notice"]
        == f"Resolved INC-{incident.pk} Fraud scores drifting on card-fraud."
    )


def test_without_a_playbook_the_default_templates_fill_every_placeholder(people, model):
    bare = services.incident_open(
        actor=people["lead"], title="Odd", severity="S1", model_slugs=[model.slug]
    )
    drafts = {d.kind: d.text for d in communications.incident_drafts(bare)}
    assert "[S1] card-fraud" in drafts["status_update"]
    assert "Commander: lee" in drafts["status_update"]
    assert "{" not in "".join(drafts.values())
    assert "(not known yet)" in drafts["status_update"]  # no failure mode, no next update


@override_settings(INCIDENT_UPDATE_INTERVAL_MINUTES=30)
def test_record_as_sent_audits_the_text_and_sets_the_next_update(people, incident):
    before = clock.now()
    due = communications.incident_communication_sent(
        incident=incident, actor=people["engineer"], kind="status_update", text="All good-ish."
    )
    incident.refresh_from_db()
    assert incident.next_update_at == due
    assert before + dt.timedelta(minutes=30) <= due <= clock.now() + dt.timedelta(minutes=30)
    event = AuditEvent.objects.get(verb="playbooks.incident.communication_sent")
    assert event.data == {"kind": "status_update", "text": "All good-ish."}
    assert AuditSubject.objects.filter(
        event=event, target_type="playbooks.incident", target_id=str(incident.pk)
    ).exists()
    # No text: the draft as it reads now is what the record keeps.
    communications.incident_communication_sent(
        incident=incident, actor=people["engineer"], kind="resolution_notice"
    )
    last = AuditEvent.objects.filter(verb="playbooks.incident.communication_sent").last()
    assert last.data["text"].startswith(f"Resolved INC-{incident.pk}")


def test_record_as_sent_refusals(people, incident):
    with pytest.raises(ServiceError) as exc:
        communications.incident_communication_sent(
            incident=incident, actor=people["engineer"], kind="tweet"
        )
    assert "kind" in exc.value.errors
    with pytest.raises(ServiceError) as exc:
        communications.incident_communication_sent(
            incident=incident, actor=people["engineer"], kind="status_update", text="x" * 20_000
        )
    assert "text" in exc.value.errors
    with pytest.raises(PermissionDenied):
        communications.incident_communication_sent(
            incident=incident, actor=people["committee"], kind="status_update"
        )
    liaison = UserFactory(username="liz", roles=["reviewer"])
    services.incident_member_add(
        incident=incident, actor=people["engineer"], username="liz", role="liaison"
    )
    communications.incident_communication_sent(
        incident=incident, actor=liaison, kind="stakeholder_notice"
    )
    services.incident_transition(
        incident=incident, event="cancel", actor=people["engineer"], reason="false alarm"
    )
    with pytest.raises(Conflict):
        communications.incident_communication_sent(
            incident=incident, actor=people["engineer"], kind="status_update"
        )
    assert AuditEvent.objects.filter(verb="playbooks.incident.communication_sent").count() == 1


# -- pages ------------------------------------------------------------------------------------


def test_pages_for_each_role(client, people, model, incident):
    url = f"/incidents/{incident.pk}/"
    client.force_login(people["engineer"])
    page = client.get(url).content.decode()
    assert 'id="checklist"' in page and 'id="communications"' in page
    assert "Mark done" in page and "Record as sent" in page
    assert 'data-copy="draft-status_update"' in page
    response = client.post(f"{url}steps/", {
        "step_key": "ack", "outcome": "done", "artifact-label-0": "Dashboard",
        "artifact-value-0": "https://grafana.example/d/1", "artifact-label-1": "Error rate",
        "artifact-value-1": "",
    })  # fmt: skip
    assert response.status_code == 302 and response["Location"].endswith("#checklist")
    assert IncidentStep.objects.get().artifacts[0]["value"] == "https://grafana.example/d/1"
    bad = client.post(f"{url}steps/", {"step_key": "what", "outcome": "done"}, follow=True)
    assert "branch: Choose one of: data, model." in bad.content.decode()
    assert IncidentStep.objects.count() == 1
    sent = client.post(f"{url}communications/", {"kind": "status_update", "text": "hi"})
    assert sent.status_code == 302
    page = client.get(url).content.decode()
    assert "Next update due" in page and "overdue" not in page

    client.force_login(people["committee"])  # reads, records nothing
    page = client.get(url).content.decode()
    assert "Do ack" in page and "Mark done" not in page and "Record as sent" not in page
    assert (
        client.post(f"{url}steps/", {"step_key": "page-lead", "outcome": "done"}).status_code == 403
    )
    assert client.post(f"{url}communications/", {"kind": "status_update"}).status_code == 403

    client.force_login(people["reviewer"])  # outside the model's pool
    assert client.get(url).status_code == 404
    assert (
        client.post(f"{url}steps/", {"step_key": "page-lead", "outcome": "done"}).status_code == 404
    )
    PoolMembership.objects.create(user=people["reviewer"], model=model)
    page = client.get(url).content.decode()
    assert "Do ack" in page and "Mark done" not in page
    assert (
        client.post(f"{url}steps/", {"step_key": "page-lead", "outcome": "done"}).status_code == 403
    )
    assert IncidentStep.objects.count() == 1


def test_the_header_says_overdue_in_red_once_the_update_is_late(client, people, incident):
    incident.next_update_at = clock.now() - dt.timedelta(minutes=1)
    incident.save(update_fields=["next_update_at"])
    client.force_login(people["engineer"])
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'class="inc-next-update overdue"' in page
    assert '<span class="badge red">overdue</span>' in page


def test_an_incident_without_a_playbook_offers_the_proposals_and_pins_one(
    client, people, model, playbook
):
    bare = services.incident_open(
        actor=people["engineer"], title="Odd", severity="S2", model_slugs=[model.slug],
        failure_mode_slugs=["currency-mix-drift"],
    )  # fmt: skip
    client.force_login(people["engineer"])
    page = client.get(f"/incidents/{bare.pk}/").content.decode()
    assert "Proposed playbooks" in page and f'value="{playbook.slug}"' in page
    client.post(f"/incidents/{bare.pk}/playbook/", {"playbook": playbook.slug})
    bare.refresh_from_db()
    assert bare.playbook_version_id == playbook.current_id
    again = client.post(f"/incidents/{bare.pk}/playbook/", {"playbook": playbook.slug}, follow=True)
    assert "already follows" in again.content.decode()


# -- API --------------------------------------------------------------------------------------


def test_api_checklist_steps_and_communications(client, people, model, incident):
    base = f"/api/v1/incidents/{incident.pk}"
    client.force_login(people["engineer"])
    got = client.get(f"{base}/checklist").json()
    assert got["current"] == "ack" and got["playbook"]["version"] == 1
    assert [s["state"] for s in got["steps"]][:2] == ["current", "upcoming"]
    made = client.post(f"{base}/steps", {"step_key": "ack", "outcome": "done"},
                       content_type="application/json")  # fmt: skip
    assert made.status_code == 201 and made.json()["current"] == "page-lead"
    bad = client.post(f"{base}/steps", {"step_key": "what", "outcome": "done", "extra": 1},
                      content_type="application/json")  # fmt: skip
    assert bad.status_code == 400 and "extra" in bad.json()["errors"]
    bad = client.post(f"{base}/steps", {"step_key": "what", "outcome": "done"},
                      content_type="application/json")  # fmt: skip
    assert bad.status_code == 400 and "branch" in bad.json()["errors"]
    art = client.post(f"{base}/steps", {"step_key": "page-lead", "outcome": "done", "artifacts": [
        {"label": "Dashboard", "value": "x"}]}, content_type="application/json")  # fmt: skip
    assert art.status_code == 400 and "artifacts[0].label" in art.json()["errors"]
    drafts = client.get(f"{base}/communications").json()
    assert {d["kind"] for d in drafts["drafts"]} == {
        "status_update", "stakeholder_notice", "resolution_notice"
    }  # fmt: skip
    assert drafts["next_update_at"] is None and drafts["overdue"] is False
    sent = client.post(f"{base}/communications", {"kind": "status_update"},
                       content_type="application/json")  # fmt: skip
    assert sent.status_code == 201 and sent.json()["next_update_at"]
    pinned = client.post(f"{base}/playbook", {"playbook": "x"}, content_type="application/json")
    assert pinned.status_code == 409
    assert client.get("/api/v1/incidents/99999999999/checklist").status_code == 404

    client.force_login(people["reviewer"])
    assert client.get(f"{base}/checklist").status_code == 404
    PoolMembership.objects.create(user=people["reviewer"], model=model)
    assert client.get(f"{base}/checklist").status_code == 200
    denied = client.post(f"{base}/steps", {"step_key": "page-lead", "outcome": "done"},
                         content_type="application/json")  # fmt: skip
    assert denied.status_code == 403
    assert steps.incident_checklist(incident).current == "page-lead"
