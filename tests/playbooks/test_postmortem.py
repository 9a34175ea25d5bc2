"""Post-mortems (issue 16): prefills, draft → published, the S1/S2 closing guard, action items
and their reminders, the catalog feedback, the exports, the pages for each role and the API."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from catalog import services as catalog_services
from catalog.models import CaseStudy, FailureMode, Occurrence, PendingRevision
from playbooks.incidents import actions, postmortem, services
from playbooks.models import ActionItem, Hypothesis, PostMortem
from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.models import Notification
from reviewapp.models import PoolMembership, Prediction
from tests.factories import MLModelFactory

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)


@pytest.fixture
def model():
    return MLModelFactory(slug="card-fraud")


def prediction(model, *, at, status=Prediction.Status.PASSED):
    return Prediction.objects.create(
        model=model, external_id=f"pm-{next(_seq)}", model_version="1", input={"a": 1},
        output={"label": "legit"}, label="legit", confidence=0.97, occurred_at=at,
        received_at=at, status=status, routed=False, reason_codes=[], routed_at=at,
    )  # fmt: skip


def move(incident, event, actor, **extra):
    incident.refresh_from_db()
    return services.incident_transition(
        incident=incident, event=event, actor=actor, base_version=incident.version, **extra
    )


def remediated(actor, model, *, severity="S2", **extra):
    incident = services.incident_open(
        actor=actor, title="Fraud scores drifting", severity=severity, model_slugs=[model.slug],
        **extra,
    )  # fmt: skip
    move(incident, "triage", actor)
    move(incident, "contain", actor)
    move(incident, "remediate", actor)
    incident.refresh_from_db()
    return incident


def written(pm, actor):
    pm.refresh_from_db()
    return postmortem.postmortem_save(
        postmortem=pm, actor=actor, base_version=pm.version,
        summary="Currency mix shifted; scores drifted.", trigger="EUR share doubled overnight.",
        detection="uncertain_rate alert", resolution="Retrained on the new mix.",
    )  # fmt: skip


def published(incident, actor):
    pm = written(postmortem.postmortem_start(incident=incident, actor=actor), actor)
    return postmortem.postmortem_publish(postmortem=pm, actor=actor, base_version=pm.version)


# -- prefills -------------------------------------------------------------------------------


def test_start_waits_for_remediation_and_prefills_impact_causes_and_detection(people, model):
    eng = people["engineer"]
    start = clock.now() - dt.timedelta(hours=3)
    incident = services.incident_open(
        actor=eng, title="Drift", severity="S2", model_slugs=[model.slug],
        impact_started_at=start, detected_at=start + dt.timedelta(minutes=40),
    )  # fmt: skip
    with pytest.raises(Conflict):
        postmortem.postmortem_start(incident=incident, actor=eng)
    prediction(model, at=start - dt.timedelta(minutes=5))  # before the impact: not counted
    for minutes in (10, 50, 90):
        prediction(model, at=start + dt.timedelta(minutes=minutes))
    prediction(model, at=start + dt.timedelta(minutes=60), status=Prediction.Status.FALLBACK)
    move(incident, "triage", eng)
    move(incident, "contain", eng, at=start + dt.timedelta(minutes=100))
    prediction(model, at=start + dt.timedelta(minutes=120))  # after containment: not counted
    move(incident, "remediate", eng)
    Hypothesis.objects.create(incident=incident, statement="EUR share doubled", status="confirmed",
                              evidence="mix chart")  # fmt: skip
    Hypothesis.objects.create(incident=incident, statement="Bad deploy", status="refuted")
    incident.refresh_from_db()
    assert postmortem.affected_predictions(incident).passed == 3

    pm = postmortem.postmortem_start(incident=incident, actor=eng)
    assert pm.status == "draft" and pm.author == eng
    assert pm.impact.startswith("3 predictions of card-fraud passed without review")
    assert "EUR share doubled" in pm.root_causes and "Bad deploy" not in pm.root_causes
    assert "sam" in pm.detection and "Time to detect: 40 min" in pm.detection
    # Starting again returns the same one.
    assert postmortem.postmortem_start(incident=incident, actor=eng).pk == pm.pk
    assert PostMortem.objects.count() == 1


def test_detection_names_the_alert_when_there_is_one(people, model):
    from reviewapp.failsafe.models import Alert

    alert = Alert.objects.create(
        model=model, monitor="uncertain_rate", severity="S2",
        since=clock.now() - dt.timedelta(hours=1),
    )  # fmt: skip
    incident = remediated(people["lead"], model, alert_ids=[alert.pk])
    assert "uncertain_rate" in postmortem.detection_text(incident)


# -- the workflow ---------------------------------------------------------------------------


def test_draft_to_published_through_the_state_machine_and_on_the_timeline(people, model):
    lead = people["lead"]
    incident = remediated(lead, model)
    pm = postmortem.postmortem_start(incident=incident, actor=lead)
    with pytest.raises(ServiceError) as exc:
        pm.summary = ""
        postmortem.postmortem_publish(postmortem=pm, actor=lead, base_version=pm.version)
    assert "summary" in exc.value.errors
    pm = written(pm, lead)
    with pytest.raises(Conflict) as stale:
        postmortem.postmortem_publish(postmortem=pm, actor=lead, base_version=pm.version - 1)
    assert stale.value.code == "stale"
    with pytest.raises(Conflict):
        postmortem.postmortem_save(postmortem=pm, actor=lead, base_version=1, summary="old read")
    postmortem.postmortem_publish(postmortem=pm, actor=lead, base_version=pm.version)
    pm.refresh_from_db()
    assert pm.status == "published" and pm.published_at is not None
    with pytest.raises(Conflict):
        postmortem.postmortem_publish(postmortem=pm, actor=lead, base_version=pm.version)
    verbs = [e.verb for e in postmortem.timeline(incident)]
    assert verbs[-3:] == [
        "playbooks.postmortem.started",
        "playbooks.postmortem.edited",
        "playbooks.postmortem.published",
    ]


@pytest.mark.parametrize("who", ["reviewer", "committee", "catalog_editor"])
def test_only_the_incident_team_writes_the_postmortem(people, model, who):
    incident = remediated(people["lead"], model)
    with pytest.raises(PermissionDenied):
        postmortem.postmortem_start(incident=incident, actor=people[who])
    pm = postmortem.postmortem_start(incident=incident, actor=people["lead"])
    with pytest.raises(PermissionDenied):
        postmortem.postmortem_save(postmortem=pm, actor=people[who], base_version=1, summary="x")
    assert not PostMortem.objects.exclude(summary="").exists()


def test_bad_text_is_refused_by_field(people, model):
    incident = remediated(people["lead"], model)
    pm = postmortem.postmortem_start(incident=incident, actor=people["lead"])
    with pytest.raises(ServiceError) as exc:
        postmortem.postmortem_save(
            postmortem=pm, actor=people["lead"], base_version=1, summary=5, bogus="x"
        )
    assert set(exc.value.errors) == {"summary", "bogus"}


@pytest.mark.parametrize("severity", ["S1", "S2"])
def test_closing_an_s1_or_s2_needs_a_published_postmortem(people, model, severity):
    lead = people["lead"]
    incident = remediated(lead, model, severity=severity)
    move(incident, "verify", lead, reason="no hypothesis in this test")
    with pytest.raises(ServiceError) as exc:
        move(incident, "close", lead)
    assert "post-mortem is published" in exc.value.errors["postmortem"][0]
    published(incident, lead)
    move(incident, "close", lead)
    incident.refresh_from_db()
    assert incident.status == "closed"


def test_an_s3_closes_without_a_postmortem(people, model):
    lead = people["lead"]
    incident = remediated(lead, model, severity="S3")
    move(incident, "verify", lead, reason="A one-off upstream glitch; nothing to confirm.")
    move(incident, "close", lead)
    incident.refresh_from_db()
    assert incident.status == "closed"


# -- action items ---------------------------------------------------------------------------


def test_action_items_are_audited_and_the_owner_is_told(people, model):
    lead, sam = people["lead"], people["engineer"]
    incident = remediated(lead, model)
    due = clock.now().date() + dt.timedelta(days=7)
    item = actions.action_item_add(
        incident=incident, actor=lead, kind="detect", title="Alert on currency mix",
        owner="sam", due_on=due,
    )  # fmt: skip
    assert Notification.objects.filter(recipient=sam, kind=actions.ASSIGNED).count() == 1
    with pytest.raises(ServiceError) as exc:
        actions.action_item_add(
            incident=incident, actor=lead, kind="nope", title="", owner="ghost", due_on="soon"
        )
    assert set(exc.value.errors) == {"kind", "title", "owner", "due_on"}
    with pytest.raises(Conflict):
        actions.action_item_edit(item=item, actor=lead, base_version=99, title="x")
    actions.action_item_edit(item=item, actor=lead, base_version=1, owner="lee")
    assert Notification.objects.filter(recipient=lead, kind=actions.ASSIGNED).count() == 1
    with pytest.raises(PermissionDenied):
        actions.action_item_close(item=item, actor=people["committee"], status="done")
    actions.action_item_close(item=item, actor=lead, status="done")
    item.refresh_from_db()
    assert item.status == "done" and item.done_at is not None
    with pytest.raises(Conflict):
        actions.action_item_close(item=item, actor=lead, status="cancelled")
    verbs = {e.verb for e in postmortem.timeline(incident)}
    assert {"playbooks.action_item.added", "playbooks.action_item.edited",
            "playbooks.action_item.done"} <= verbs  # fmt: skip


def test_overdue_items_count_for_their_owner_and_are_reminded_once(people, model):
    lead, sam = people["lead"], people["engineer"]
    incident = remediated(lead, model)
    today = actions.today()
    late = actions.action_item_add(
        incident=incident, actor=lead, kind="prevent", title="Pin the mix",
        owner="sam", due_on=today - dt.timedelta(days=2),
    )  # fmt: skip
    actions.action_item_add(
        incident=incident, actor=lead, kind="process", title="Runbook",
        owner="sam", due_on=today + dt.timedelta(days=2),
    )  # fmt: skip
    assert actions.overdue_count(sam) == 1
    assert actions.overdue_count(lead) == 0
    assert actions.overdue_reminders_send() == 1
    assert actions.overdue_reminders_send() == 0  # a second run (or a redelivery) tells nobody
    told = Notification.objects.filter(recipient=sam, kind=actions.OVERDUE)
    assert told.count() == 1 and "Pin the mix" in told.get().title
    # A new due date that passes too earns one new reminder.
    actions.action_item_edit(item=late, actor=lead, due_on=today - dt.timedelta(days=1))
    assert actions.overdue_reminders_send() == 1
    assert actions.overdue_reminders_send(on=today + dt.timedelta(days=10)) == 1  # the other one
    assert actions.overdue_reminders_send(on=today + dt.timedelta(days=10)) == 0


def test_the_beat_task_calls_the_reminder(people, model):
    from playbooks.tasks import action_item_reminders

    incident = remediated(people["lead"], model)
    actions.action_item_add(
        incident=incident, actor=people["lead"], kind="prevent", title="Late",
        owner="sam", due_on=actions.today() - dt.timedelta(days=1),
    )  # fmt: skip
    assert action_item_reminders.apply().get() == 1
    assert action_item_reminders.apply().get() == 0


# -- the catalog feedback -------------------------------------------------------------------


def _complete(fm, steward):
    FailureMode.objects.filter(pk=fm.pk).update(
        cause="A shift in the currency mix.", effect="Scores drift.",
        trigger_steps="New market launch.", business_impact="Missed fraud.",
        owner=steward, steward=steward,
    )  # fmt: skip


def test_the_catalog_update_is_a_pending_revision_the_steward_publishes(people, model, catalog):
    sam, edith = people["engineer"], people["catalog_editor"]
    fm = FailureMode.objects.get(slug="currency-mix-drift")
    _complete(fm, edith)
    incident = remediated(sam, model, failure_mode_slugs=[fm.slug])
    pm = postmortem.postmortem_start(incident=incident, actor=sam)
    with pytest.raises(Conflict):  # the draft is not what the catalog learns from
        postmortem.postmortem_catalog_draft(postmortem=pm, actor=sam)
    pm = published(incident, sam)
    with pytest.raises(PermissionDenied):  # leads do not draft catalog entries
        postmortem.postmortem_catalog_draft(postmortem=pm, actor=people["lead"])
    pm = postmortem.postmortem_catalog_draft(postmortem=pm, actor=sam, site="https://fs.example")
    fm.refresh_from_db()
    assert fm.status == "published"
    assert "EUR share doubled" not in fm.trigger_steps  # published text unchanged until review
    revision = PendingRevision.objects.get(failure_mode=fm, status="pending")
    assert revision.author == sam
    assert "EUR share doubled overnight." in revision.changes["trigger_steps"]
    assert "uncertain_rate alert" in revision.changes["detection_signals"]
    assert pm.catalog_failure_mode == fm
    case = CaseStudy.objects.get(pk=pm.catalog_case_study_id)
    assert incident.reference in case.title and "Retrained" in case.narrative
    occurrences = Occurrence.objects.filter(failure_mode=fm, source_type="incident")
    assert list(occurrences.values_list("source_id", flat=True)) == [str(incident.pk)]
    # Once per incident: a second click is refused, and recording again changes nothing.
    with pytest.raises(Conflict):
        postmortem.postmortem_catalog_draft(postmortem=pm, actor=sam)
    catalog_services.occurrence_record(
        failure_mode_slug=fm.slug, source_type="incident", source_id=incident.pk,
        occurred_at=incident.detected_at,
    )  # fmt: skip
    assert occurrences.count() == 1
    # The catalog's rule holds: the author never publishes; the steward does.
    with pytest.raises(PermissionDenied):
        catalog_services.failure_mode_revision_publish(revision_id=revision.pk, user=sam)
    catalog_services.failure_mode_revision_publish(revision_id=revision.pk, user=edith)
    fm.refresh_from_db()
    assert "EUR share doubled overnight." in fm.trigger_steps


def test_without_a_linked_failure_mode_a_new_draft_entry_is_made(people, model, catalog):
    sam, edith = people["engineer"], people["catalog_editor"]
    incident = remediated(sam, model)
    pm = postmortem.postmortem_catalog_draft(postmortem=published(incident, sam), actor=sam)
    fm = pm.catalog_failure_mode
    assert fm.status == "draft" and fm.created_by == sam
    assert "uncertain_rate alert" in fm.detection_signals
    assert not Occurrence.objects.filter(source_type="incident").exists()  # none was linked
    _complete(fm, edith)
    FailureMode.objects.filter(pk=fm.pk).update(severity="S2")
    fm.refresh_from_db()
    catalog_services.failure_mode_transition(failure_mode=fm, user=sam, action="submit")
    with pytest.raises(PermissionDenied):
        catalog_services.failure_mode_transition(failure_mode=fm, user=sam, action="publish")
    catalog_services.failure_mode_transition(failure_mode=fm, user=edith, action="publish")
    fm.refresh_from_db()
    assert fm.status == "published"


# -- exports --------------------------------------------------------------------------------


def test_markdown_export_has_every_part(people, model):
    lead = people["lead"]
    incident = remediated(lead, model)
    Hypothesis.objects.create(incident=incident, statement="EUR share doubled", status="confirmed")
    published(incident, lead)
    actions.action_item_add(
        incident=incident, actor=lead, kind="detect", title="Alert | on mix", owner="sam",
        due_on=dt.date(2030, 1, 2),
    )  # fmt: skip
    from playbooks.incidents import export

    text = export.markdown(incident)
    assert text.startswith(f"# INC-{incident.pk}: Fraud scores drifting")
    for part in ("- Severity: S2", "card-fraud", "## Milestones", "Time to contain",
                 "## Affected predictions", "## Post-mortem", "### Trigger",
                 "EUR share doubled overnight.", "## Action items", "Alert \\| on mix",
                 "2030-01-02", "## Hypotheses", "## Recovery decisions", "## Timeline",
                 "Post-mortem published"):  # fmt: skip
        assert part in text, part


# -- pages ----------------------------------------------------------------------------------


def test_pages_for_each_role(client, people, model):
    lead = people["lead"]
    incident = remediated(lead, model)
    url = f"/incidents/{incident.pk}/"
    client.force_login(people["engineer"])
    page = client.get(url)
    assert b"Start the post-mortem" in page.content
    assert client.post(f"{url}postmortem/start/").status_code == 302
    pm = PostMortem.objects.get()
    response = client.post(
        f"{url}postmortem/",
        {"base_version": pm.version, "summary": "Mix shift", "impact": pm.impact,
         "root_causes": "EUR share", "action": "publish"},
    )  # fmt: skip
    assert response.status_code == 302
    pm.refresh_from_db()
    assert pm.status == "published" and pm.summary == "Mix shift"
    response = client.post(
        f"{url}action-items/",
        {"ai-kind": "detect", "ai-title": "Alert on mix", "ai-owner": "sam",
         "ai-due_on": "2020-01-01"},
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get(url)
    assert b"pm-overdue" in page.content and b"Draft the catalog update" in page.content
    mine = client.get("/incidents/my-actions/")
    assert b"Alert on mix" in mine.content and b"overdue" in mine.content
    assert b'data-counter="my-actions"' in mine.content
    # The top bar's count comes in the user's own query (core.user_annotations).
    assert b'My actions <span class="nav-count">1</span>' in mine.content

    client.force_login(people["reviewer"])
    assert client.get(url).status_code == 404
    assert client.get(f"{url}export.md").status_code == 404
    PoolMembership.objects.create(user=people["reviewer"], model=model)
    page = client.get(url)
    assert page.status_code == 200 and b"Mix shift" in page.content
    assert b"Save and publish" not in page.content and b"Add action item" not in page.content
    assert client.post(f"{url}postmortem/", {"base_version": 2}).status_code == 403
    item = ActionItem.objects.get()
    assert client.post(f"{url}action-items/{item.pk}/", {"action": "done"}).status_code == 302
    item.refresh_from_db()
    assert item.status == "open"  # refused: not theirs to close

    client.force_login(people["committee"])
    page = client.get(url)
    assert page.status_code == 200 and b"Mix shift" in page.content
    export = client.get(f"{url}export.md")
    assert export["Content-Type"].startswith("text/markdown")
    assert f"INC-{incident.pk}.md" in export["Content-Disposition"]
    printed = client.get(f"{url}print/")
    assert printed.status_code == 200
    assert b'media="print"' in printed.content and b"Mix shift" in printed.content
    assert b'class="topbar"' not in printed.content


# -- API ------------------------------------------------------------------------------------


def test_api_postmortem_and_action_items(client, people, model):
    incident = remediated(people["lead"], model)
    base = f"/api/v1/incidents/{incident.pk}"
    client.force_login(people["engineer"])
    assert client.get(f"{base}/postmortem").status_code == 404
    put = client.put(f"{base}/postmortem", {"summary": "Mix"}, content_type="application/json")
    assert put.status_code == 200, put.content
    body = put.json()
    assert body["summary"] == "Mix" and body["status"] == "draft" and body["impact"]
    stale = client.put(
        f"{base}/postmortem", {"summary": "x", "base_version": 1}, content_type="application/json"
    )
    assert stale.status_code == 409
    bad = client.put(f"{base}/postmortem", {"nope": 1}, content_type="application/json")
    assert bad.status_code == 400
    pub = client.post(
        f"{base}/postmortem/publish", {"base_version": body["version"]},
        content_type="application/json",
    )  # fmt: skip
    assert pub.status_code == 200 and pub.json()["status"] == "published"
    again = client.post(
        f"{base}/postmortem/publish", {"base_version": pub.json()["version"]},
        content_type="application/json",
    )  # fmt: skip
    assert again.status_code == 409
    made = client.post(
        f"{base}/action-items",
        {"kind": "prevent", "title": "Pin", "owner": "sam", "due_on": "2020-01-01"},
        content_type="application/json",
    )
    assert made.status_code == 201 and made.json()["overdue"] is True
    assert client.post(
        f"{base}/action-items", {"kind": "prevent", "title": "Pin", "owner": "ghost",
                                 "due_on": "2020-01-01"}, content_type="application/json",
    ).status_code == 400  # fmt: skip
    mine = client.get("/api/v1/action-items?overdue=true").json()
    assert [r["title"] for r in mine["results"]] == ["Pin"]
    aid = made.json()["id"]
    both = client.patch(
        f"{base}/action-items/{aid}", {"status": "done", "title": "x"},
        content_type="application/json",
    )  # fmt: skip
    assert both.status_code == 400
    done = client.patch(
        f"{base}/action-items/{aid}", {"status": "done"}, content_type="application/json"
    )
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert client.get("/api/v1/action-items").json()["count"] == 0
    assert client.get(f"/api/v1/incidents/{2**40}/postmortem").status_code == 404

    client.force_login(people["reviewer"])
    assert client.get(f"{base}/action-items").status_code == 404
    PoolMembership.objects.create(user=people["reviewer"], model=model)
    assert client.get(f"{base}/action-items").json()["count"] == 1
    assert client.put(
        f"{base}/postmortem", {"summary": "x", "base_version": 3}, content_type="application/json"
    ).status_code == 403  # fmt: skip
    assert client.get("/api/v1/action-items?owner=sam").status_code == 403
