"""The incident checklist: the pure walk (conditions, a decision whose branches rejoin, a loop),
recording steps (each refusal names its field and writes nothing; who may record), escalation
notices, pinning a playbook once, and a playbook revision leaving a running incident alone."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from playbooks import services as playbook_services
from playbooks.document import Known, validate
from playbooks.incidents import checklist, services, steps
from playbooks.incidents.checklist import Record
from playbooks.models import Incident, IncidentMember, IncidentStep
from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent, AuditSubject, Notification
from reviewapp.models import Mode, ModelMode
from tests.factories import MLModelFactory, UserFactory

from .conftest import SEVERITIES, TEMPLATES, step


def runbook(**changes):
    """Acknowledge (two artifacts) → page the lead (escalation, only S2 or worse) → what is
    wrong? (data → fix data, which jumps to the check; model → roll back, which falls through to
    the check) → fixed? (no → back to "what") → tell the stakeholders (the liaison's step)."""
    doc = {
        "title": "Checklist runbook",
        "summary": "For tests.",
        "owner": "sam",
        "failure_modes": ["currency-mix-drift"],
        "triggers": [{"monitor": "ood-rate", "kind": "shift"}],
        "severities": dict(SEVERITIES),
        "steps": [
            step("ack", "triage", artifacts=[
                {"kind": "link", "label": "Dashboard"}, {"kind": "number", "label": "Error rate"},
            ]),
            step("page-lead", "triage", kind="escalation", escalate_to="lead",
                 condition="severity >= S2"),
            step("what", "evidence", kind="decision", branches=[
                {"label": "data", "target": "fix-data"}, {"label": "model", "target": "rollback"},
            ]),
            step("fix-data", "remediation", role="scribe", next="check"),
            step("rollback", "remediation"),
            step("check", "verification", kind="decision", branches=[
                {"label": "fixed", "target": "tell"}, {"label": "not fixed", "target": "what"},
            ]),
            step("tell", "communication", role="liaison"),
        ],
        "templates": dict(TEMPLATES),
    }  # fmt: skip
    doc.update(changes)
    return copy.deepcopy(doc)


def saved_form():
    """The runbook as a saved version holds it (normalised by the document checks)."""
    known = Known(failure_modes={"currency-mix-drift"}, monitors={"ood-rate"}, owners={"sam"})
    clean, errors = validate(runbook(), known)
    assert not errors
    return clean


def rec(seq, key, outcome="done", branch=None):
    return Record(seq=seq, step_key=key, outcome=outcome, branch=branch or {})


def states(found):
    return {s.key: s.state for s in found.steps}


# -- the pure walk --------------------------------------------------------------------------


def test_a_new_checklist_starts_at_the_first_step_and_everything_is_upcoming():
    found = checklist.compute(saved_form(), [], {"severity": "S2"})
    assert found.current == "ack"
    assert states(found) == {
        "ack": "current", "page-lead": "upcoming", "what": "upcoming", "fix-data": "upcoming",
        "rollback": "upcoming", "check": "upcoming", "tell": "upcoming",
    }  # fmt: skip


def test_a_false_condition_is_passed_over_as_not_applicable():
    found = checklist.compute(saved_form(), [rec(1, "ack")], {"severity": "S3"})
    assert found.current == "what"
    lead = found.step("page-lead")
    assert (lead.state, lead.condition_result) == ("not_applicable", "false")
    assert lead.condition_words == "Only when severity is S2 or more severe"
    held = checklist.compute(saved_form(), [rec(1, "ack")], {"severity": "S1"})
    assert held.current == "page-lead"
    assert held.step("page-lead").condition_result == "true"


def test_an_unknown_fact_waits_for_a_person_instead_of_skipping():
    found = checklist.compute(saved_form(), [rec(1, "ack")], {"severity": None})
    assert found.current == "page-lead"
    assert found.step("page-lead").condition_result == "unknown"


def test_a_branch_taken_leaves_the_other_off_the_path_and_they_rejoin():
    records = [rec(1, "ack"), rec(2, "what", branch={"label": "data", "target": "fix-data"})]
    found = checklist.compute(saved_form(), records, {"severity": "S3"})
    assert found.current == "fix-data"
    assert states(found)["rollback"] == "off_path"
    assert states(found)["check"] == "upcoming"
    # fix-data jumps (``next``) over rollback to the check: the branches rejoin there.
    found = checklist.compute(saved_form(), [*records, rec(3, "fix-data")], {"severity": "S3"})
    assert found.current == "check"
    assert states(found)["rollback"] == "off_path"
    other = [rec(1, "ack"), rec(2, "what", branch={"label": "model", "target": "rollback"}),
             rec(3, "rollback")]  # fmt: skip
    found = checklist.compute(saved_form(), other, {"severity": "S3"})
    assert found.current == "check"
    assert states(found)["fix-data"] == "off_path"


def test_a_loop_runs_steps_again_and_keeps_every_record():
    records = [
        rec(1, "ack"),
        rec(2, "what", branch={"label": "data", "target": "fix-data"}),
        rec(3, "fix-data"),
        rec(4, "check", branch={"label": "not fixed", "target": "what"}),
    ]
    found = checklist.compute(saved_form(), records, {"severity": "S3"})
    assert found.current == "what"
    assert len(found.step("what").records) == 1  # done once, to do again
    assert states(found)["fix-data"] == "done"
    records += [
        rec(5, "what", branch={"label": "model", "target": "rollback"}),
        rec(6, "rollback"),
        rec(7, "check", branch={"label": "fixed", "target": "tell"}),
        rec(8, "tell"),
    ]
    found = checklist.compute(saved_form(), records, {"severity": "S3"})
    assert found.finished and found.current is None
    assert [r.seq for r in found.step("check").records] == [4, 7]
    assert found.path == ("ack", "what", "fix-data", "check", "what", "rollback", "check", "tell")
    assert states(found)["page-lead"] == "not_applicable"


# -- the database side ------------------------------------------------------------------------

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


def open_incident(people, model, severity="S2", **extra):
    return services.incident_open(
        actor=people["engineer"], title="Fraud scores drifting", severity=severity,
        model_slugs=[model.slug], **extra,
    )  # fmt: skip


def record(incident, actor, key, outcome="done", **extra):
    return steps.incident_step_record(
        incident=incident, actor=actor, step_key=key, outcome=outcome, **extra
    )


def test_facts_read_the_incident_its_models_and_alerts(people, model, playbook):
    ModelMode.objects.create(model=model, mode=Mode.CONTAINED)
    incident = open_incident(people, model, playbook_slug=playbook.slug,
                             failure_mode_slugs=["currency-mix-drift"])  # fmt: skip
    facts = steps.incident_facts(incident)
    assert facts["severity"] == "S2"
    assert facts["model.criticality"] == model.criticality
    assert facts["model.mode"] == "contained"
    assert facts["failure_mode"] == "currency-mix-drift"
    assert facts["alert.monitor"] is None


def test_recording_a_step_stores_it_audits_it_and_moves_the_checklist(people, model, playbook):
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    saved = record(
        incident, people["engineer"], "ack",
        artifacts=[{"label": "Dashboard", "value": "https://grafana.example/d/1"},
                   {"label": "Error rate", "value": "0.42"}],
        note="Seen",
    )  # fmt: skip
    assert (saved.seq, saved.done_by, saved.outcome) == (1, people["engineer"], "done")
    assert saved.artifacts == [
        {"kind": "link", "label": "Dashboard", "value": "https://grafana.example/d/1"},
        {"kind": "number", "label": "Error rate", "value": "0.42"},
    ]
    event = AuditEvent.objects.get(verb="playbooks.incident.step_recorded")
    assert event.data["step_key"] == "ack"
    assert AuditSubject.objects.filter(
        event=event, target_type="playbooks.incident", target_id=str(incident.pk)
    ).exists()
    assert steps.incident_checklist(incident).current == "page-lead"


@pytest.mark.parametrize(
    ("key", "outcome", "extra", "field"),
    [
        ("nope", "done", {}, "step_key"),
        ("ack", "finished", {}, "outcome"),
        ("ack", "not_applicable", {}, "outcome"),  # its condition holds (none)
        ("what", "done", {}, "branch"),
        ("what", "done", {"branch": "maybe"}, "branch"),
        ("ack", "done", {"branch": "data"}, "branch"),
        ("ack", "done", {"artifacts": [{"label": "Dashboard", "value": "ftp://x"}]},
         "artifacts[0].value"),
        ("ack", "done", {"artifacts": [{"label": "Dashboard", "value": "javascript:alert(1)"}]},
         "artifacts[0].value"),
        ("ack", "done", {"artifacts": [{"label": "Error rate", "value": "lots"}]},
         "artifacts[0].value"),
        ("ack", "done", {"artifacts": [{"label": "Error rate", "value": "nan"}]},
         "artifacts[0].value"),
        ("ack", "done", {"artifacts": [{"label": "Logs", "value": "x"}]}, "artifacts[0].label"),
        ("ack", "done", {"artifacts": [{"label": "Dashboard", "value": "https://x.example/",
                                        "kind": "number"}]}, "artifacts[0].kind"),
        ("ack", "done", {"artifacts": [{"label": "Dashboard", "value": "x" * 3000}]},
         "artifacts[0].value"),
        ("ack", "done", {"artifacts": [{"label": "Dashboard", "value": "1"}] * 9}, "artifacts"),
        ("ack", "done", {"artifacts": "a link"}, "artifacts"),
        ("ack", "done", {"note": "n" * 6000}, "note"),
    ],
)  # fmt: skip
def test_each_refusal_names_its_field_and_writes_nothing(
    people, model, playbook, key, outcome, extra, field
):
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    with pytest.raises(ServiceError) as exc:
        record(incident, people["engineer"], key, outcome, **extra)
    assert field in exc.value.errors, exc.value.errors
    assert not IncidentStep.objects.exists()
    assert not AuditEvent.objects.filter(verb="playbooks.incident.step_recorded").exists()


def test_a_false_condition_allows_only_not_applicable(people, model, playbook):
    incident = open_incident(people, model, severity="S3", playbook_slug=playbook.slug)
    for outcome in ("done", "skipped"):
        with pytest.raises(ServiceError) as exc:
            record(incident, people["engineer"], "page-lead", outcome)
        assert "mark it not applicable" in exc.value.errors["outcome"][0]
    saved = record(incident, people["engineer"], "page-lead", "not_applicable")
    assert saved.condition == {"expression": "severity >= S2", "result": "false"}
    assert not Notification.objects.exists()  # not applicable: nobody is paged


def test_who_may_record(people, model, playbook):
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    for who in ("reviewer", "committee", "nobody"):
        with pytest.raises(PermissionDenied):
            record(incident, people[who], "ack")
    scribe = UserFactory(username="scribe", roles=["reviewer"])
    services.incident_member_add(
        incident=incident, actor=people["engineer"], username="scribe", role="scribe"
    )
    with pytest.raises(PermissionDenied):  # the commander's step, not the scribe's
        record(incident, scribe, "ack")
    assert record(incident, scribe, "fix-data").done_by == scribe
    assert record(incident, people["lead"], "ack").done_by == people["lead"]


def test_an_escalation_point_notifies_the_role_it_escalates_to(people, model, playbook):
    other_lead = UserFactory(username="lena", roles=["lead"])
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    record(incident, people["engineer"], "ack")
    record(incident, people["engineer"], "page-lead")
    told = Notification.objects.filter(kind=steps.ESCALATED)
    assert set(told.values_list("recipient__username", flat=True)) == {"lee", other_lead.username}
    assert f"INC-{incident.pk}" in told.first().title
    assert told.first().link.endswith(f"/incidents/{incident.pk}/#checklist")


def test_an_escalation_to_the_commander_notifies_the_commander_only(people, model, catalog):
    doc = runbook()
    doc["steps"][1].update(escalate_to="commander", condition="")
    p = playbook_services.playbook_create(actor=people["engineer"], document=doc)
    playbook_services.playbook_transition(playbook=p, actor=people["lead"], event="publish")
    incident = open_incident(people, model, playbook_slug=p.slug)
    record(incident, people["lead"], "page-lead")
    assert list(
        Notification.objects.filter(kind=steps.ESCALATED).values_list(
            "recipient__username", flat=True
        )
    ) == ["sam"]


def test_no_playbook_or_an_incident_that_is_over_is_a_409(people, model, playbook):
    bare = open_incident(people, model)
    with pytest.raises(Conflict):
        record(bare, people["engineer"], "ack")
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    services.incident_transition(
        incident=incident, event="cancel", actor=people["engineer"], reason="false alarm"
    )
    with pytest.raises(Conflict):
        record(incident, people["engineer"], "ack")


def test_a_playbook_revision_never_changes_a_running_incidents_checklist(people, model, playbook):
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    record(incident, people["engineer"], "ack")
    doc = runbook()
    doc["steps"].insert(0, step("first", "triage"))
    doc["steps"][1]["title"] = "Acknowledge, renamed"
    playbook_services.playbook_revise(
        playbook=playbook, actor=people["engineer"], document=doc, base_version=1
    )
    incident.refresh_from_db()
    found = steps.incident_checklist(incident)
    assert [s.key for s in found.steps][0] == "ack"
    assert found.step("ack").title == "Do ack"
    assert found.current == "page-lead"
    with pytest.raises(ServiceError) as exc:
        record(incident, people["engineer"], "first")
    assert "step_key" in exc.value.errors
    fresh = open_incident(people, model, playbook_slug=playbook.slug)
    assert steps.incident_checklist(fresh).current == "first"


def test_an_incident_without_a_playbook_is_proposed_one_and_pins_it_once(
    people, model, playbook, catalog
):
    incident = open_incident(people, model, failure_mode_slugs=["currency-mix-drift"])
    assert steps.incident_checklist(incident) is None
    proposals = steps.playbook_proposals(incident)
    assert [p.slug for p, _why in proposals] == [playbook.slug]
    assert "currency-mix-drift" in proposals[0][1]
    with pytest.raises(PermissionDenied):
        steps.incident_playbook_pin(
            incident=incident, actor=people["reviewer"], playbook_slug=playbook.slug
        )
    with pytest.raises(ServiceError) as exc:
        steps.incident_playbook_pin(
            incident=incident, actor=people["engineer"], playbook_slug="nope"
        )
    assert "playbook" in exc.value.errors
    steps.incident_playbook_pin(
        incident=incident, actor=people["engineer"], playbook_slug=playbook.slug
    )
    incident.refresh_from_db()
    assert incident.playbook_version == playbook.current
    assert steps.incident_checklist(incident).current == "ack"
    with pytest.raises(Conflict):
        steps.incident_playbook_pin(
            incident=incident, actor=people["engineer"], playbook_slug=playbook.slug
        )
    assert AuditEvent.objects.filter(verb="playbooks.incident.playbook_pinned").count() == 1


def test_proposals_by_an_alerts_monitor(people, model, playbook):
    from reviewapp.failsafe.models import Alert

    alert = Alert.objects.create(
        model=model, monitor="ood-rate", severity="S2", since=clock.now() - dt.timedelta(hours=1)
    )
    incident = open_incident(people, model, alert_ids=[alert.pk])
    proposals = steps.playbook_proposals(incident)
    assert [p.slug for p, _why in proposals] == [playbook.slug]
    assert "ood-rate" in proposals[0][1]
    assert not steps.playbook_proposals(open_incident(people, MLModelFactory(slug="other")))


def test_members_in_other_roles_record_nothing(people, model, playbook):
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    observer = UserFactory(username="obs", roles=["reviewer"])
    IncidentMember.objects.create(incident=incident, user=observer, role="observer")
    with pytest.raises(PermissionDenied):
        record(incident, observer, "fix-data")
    assert Incident.objects.get(pk=incident.pk).steps.count() == 0


def test_the_author_undoes_the_last_record_within_minutes(people, model, playbook):
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    first = record(incident, people["engineer"], "ack")
    second = record(incident, people["engineer"], "page-lead")
    with pytest.raises(Conflict):  # not the last one
        steps.incident_step_undo(incident=incident, actor=people["engineer"], seq=first.seq)
    with pytest.raises(PermissionDenied):  # not its author
        steps.incident_step_undo(incident=incident, actor=people["lead"], seq=second.seq)
    steps.incident_step_undo(incident=incident, actor=people["engineer"], seq=second.seq)
    assert list(IncidentStep.objects.values_list("step_key", flat=True)) == ["ack"]
    assert steps.incident_checklist(incident).current == "page-lead"
    event = AuditEvent.objects.get(verb="playbooks.incident.step_undone")
    assert event.data["step_key"] == "page-lead"
    IncidentStep.objects.filter(pk=first.pk).update(
        done_at=clock.now() - dt.timedelta(minutes=steps.UNDO_MINUTES + 1)
    )
    with pytest.raises(PermissionDenied):  # too late
        steps.incident_step_undo(incident=incident, actor=people["engineer"], seq=first.seq)
    assert IncidentStep.objects.count() == 1


def test_the_page_offers_undo_to_the_author_only(client, people, model, playbook):
    incident = open_incident(people, model, playbook_slug=playbook.slug)
    saved = record(incident, people["engineer"], "ack")
    url = f"/incidents/{incident.pk}/"
    client.force_login(people["lead"])
    assert "steps/undo/" not in client.get(url).content.decode()
    client.force_login(people["engineer"])
    assert "steps/undo/" in client.get(url).content.decode()
    response = client.post(f"{url}steps/undo/", {"seq": saved.seq})
    assert response.status_code == 302
    assert not IncidentStep.objects.exists()


def test_without_a_proposal_the_page_offers_every_active_playbook_to_pick(client, catalog, people):
    """No playbook names the incident's failure modes or monitors: the commander picks one
    of the active playbooks from a list (not by typing its slug), and follows it."""
    from playbooks import demo

    assert demo.seed_playbooks() == 5
    model = MLModelFactory(slug="plain-model")
    incident = services.incident_open(
        actor=people["engineer"], title="Odd outputs", severity="S3", model_slugs=[model.slug]
    )
    client.force_login(people["engineer"])
    page = client.get(f"/incidents/{incident.pk}/")
    options = page.context["sections"]
    checklist = next(s for s in options if s["key"] == "checklist")["section"]
    assert checklist["proposals"] == [] and len(checklist["active"]) == 5
    assert b'<select id="pin-slug" name="playbook" required>' in page.content
    slug = checklist["active"][0].slug
    # A committee member reading it gets no list to pick from.
    client.force_login(people["committee"])
    page = client.get(f"/incidents/{incident.pk}/")
    read_only = next(s for s in page.context["sections"] if s["key"] == "checklist")["section"]
    assert read_only["active"] == [] and b"pin-slug" not in page.content

    client.force_login(people["engineer"])
    assert client.post(f"/incidents/{incident.pk}/playbook/", {"playbook": slug}).status_code == 302
    incident.refresh_from_db()
    assert incident.playbook_version.playbook.slug == slug
