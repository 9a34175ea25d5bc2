"""/api/v1/incidents (issue 16): the pages' permissions per role and principal, opening with a
Location header, every field of the answer, edits and transitions with a version (409 when
stale or not allowed), people, links, notes, limit/offset and filters, bad input per field
with nothing written, and the person as the actor of every audited write."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from playbooks import services as playbook_services
from playbooks.incidents import services
from playbooks.models import Incident, IncidentMember, IncidentNote
from reviewapp.accounts.services import personal_token_create
from reviewapp.core import clock
from reviewapp.core.models import AuditEvent
from reviewapp.failsafe.models import Alert
from reviewapp.models import PoolMembership
from tests.factories import MLModelFactory
from tests.reviewapp.test_queue_fixtures import make_items

from .conftest import valid_doc

pytestmark = pytest.mark.django_db
BASE = "/api/v1/incidents"


def as_user(user) -> APIClient:
    c = APIClient()
    token = personal_token_create(user=user, name="on-call", days=1).token
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return c


@pytest.fixture
def churn():
    return MLModelFactory(slug="churn")


@pytest.fixture
def pooled(people, fraud_model):
    """ana, a reviewer in card-fraud's pool."""
    PoolMembership.objects.create(user=people["reviewer"], model=fraud_model)
    return people["reviewer"]


@pytest.fixture
def incident(people, fraud_model):
    return services.incident_open(
        actor=people["lead"], title="Fraud scores drifting", severity="S2",
        model_slugs=["card-fraud"],
    )  # fmt: skip


def alert_on(model) -> Alert:
    return Alert.objects.create(
        model=model, monitor="ood-rate", severity="S2", since=clock.now() - dt.timedelta(hours=1)
    )


def audit_count() -> int:
    return AuditEvent.objects.filter(verb__startswith="playbooks.incident").count()


# --- opening --------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["engineer", "lead"])
def test_engineers_and_leads_open_and_become_commander(people, fraud_model, catalog, role):
    playbook = playbook_services.playbook_create(actor=people["engineer"], document=valid_doc())
    playbook_services.playbook_transition(playbook=playbook, actor=people["lead"], event="publish")
    alert = alert_on(fraud_model)
    (item,) = make_items(fraud_model, 1)
    impact = "2026-01-05T09:00:00+01:00"
    r = as_user(people[role]).post(
        BASE,
        {
            "title": "Fraud scores drifting", "severity": "S2", "models": ["card-fraud"],
            "summary": "Scores shifted.", "playbook": "drift-runbook",
            "failure_modes": ["currency-mix-drift"], "alerts": [alert.pk],
            "review_items": [item.pk], "impact_started_at": impact,
            "detected_at": "2026-01-05T08:30:00Z",
        },
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.json()
    body = r.json()
    incident = Incident.objects.get()
    assert r["Location"] == f"http://testserver{BASE}/{incident.pk}"
    assert body["reference"] == f"INC-{incident.pk}" and body["id"] == incident.pk
    assert body["commander"] == people[role].username == body["opened_by"]
    assert body["source"] == "api" and body["status"] == "detected"
    assert body["playbook"] == {"slug": "drift-runbook", "version": 1, "title": "Drift runbook"}
    assert body["models"] == [{"slug": "card-fraud", "mode": "normal"}]
    assert body["alerts"] == [alert.pk] and body["review_items"] == [item.pk]
    assert body["failure_modes"] == ["currency-mix-drift"]
    assert body["milestones"]["impact_started_at"] == "2026-01-05T08:00:00Z"
    assert body["milestones"]["detected_at"] == "2026-01-05T08:30:00Z"
    assert body["durations"] == {
        "time_to_detect": 1800, "time_to_contain": None, "time_to_resolve": None,
    }  # fmt: skip
    assert body["urls"]["html"] == f"http://testserver/incidents/{incident.pk}/"
    assert body["urls"]["api"] == r["Location"]
    event = AuditEvent.objects.get(verb="playbooks.incident.opened")
    assert (event.actor_type, event.actor_id) == ("user", str(people[role].pk))


def test_the_caller_cannot_name_another_opener_or_commander(people, fraud_model):
    for field in ("commander", "opened_by", "actor", "source"):
        r = as_user(people["engineer"]).post(
            BASE,
            {"title": "T", "severity": "S3", "models": ["card-fraud"], field: "lee"},
            format="json",
        )
        assert r.status_code == 400 and field in r.json()["errors"]
    assert not Incident.objects.exists()


BAD_OPEN = [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": None}, "title"),
    ({"severity": "S9"}, "severity"),
    ({"models": []}, "models"),
    ({"models": ["nope"]}, "models"),
    ({"models": "card-fraud"}, "models"),
    ({"models": [{"slug": "card-fraud"}]}, "models.0"),
    ({"playbook": "nope"}, "playbook"),
    ({"failure_modes": ["unknown-mode"]}, "failure_modes"),
    ({"alerts": [999]}, "alerts"),
    ({"alerts": [-1]}, "alerts.0"),
    ({"alerts": [2**40]}, "alerts.0"),
    ({"review_items": [999]}, "review_items"),
    ({"impact_started_at": "yesterday"}, "impact_started_at"),
    ({"detected_at": "2999-01-01T00:00:00Z"}, "detected_at"),
    ({"detected_at": "2026-13-01T00:00:00Z"}, "detected_at"),
    (
        {"impact_started_at": "2026-01-02T00:00:00Z", "detected_at": "2026-01-01T00:00:00Z"},
        "detected_at",
    ),
    ({"summary": ["x"]}, "summary"),
    ({"extra": 1}, "extra"),
]


@pytest.mark.parametrize(("change", "field"), BAD_OPEN)
def test_bad_input_to_open_names_the_field_and_writes_nothing(people, fraud_model, change, field):
    body = {"title": "Drift", "severity": "S2", "models": ["card-fraud"], **change}
    r = as_user(people["engineer"]).post(BASE, body, format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json()["errors"], r.json()
    assert not Incident.objects.exists() and audit_count() == 0


def test_a_model_the_opener_cannot_see_is_refused_like_an_unknown_one(people, fraud_model):
    r = as_user(people["engineer"]).post(BASE, "[1]", content_type="application/json")
    assert r.status_code == 400
    r = as_user(people["engineer"]).post(BASE, "{not json", content_type="application/json")
    assert r.status_code == 400 and "body" in r.json()["errors"]
    big = {"title": "x", "severity": "S2", "models": ["card-fraud"], "summary": "x" * 3_000_000}
    assert as_user(people["engineer"]).post(BASE, big, format="json").status_code == 413


# --- who reads, who writes --------------------------------------------------------------------
@pytest.mark.parametrize("role", ["engineer", "lead", "committee"])
def test_every_role_reads_every_incident(people, incident, role):
    c = as_user(people[role])
    r = c.get(BASE)
    assert r.status_code == 200 and r.json()["count"] == 1
    assert c.get(f"{BASE}/{incident.pk}").json()["title"] == "Fraud scores drifting"
    assert c.get(f"{BASE}/{incident.pk}/notes").status_code == 200


def test_reviewers_read_their_pools_incidents_only(people, incident, churn, pooled):
    other = services.incident_open(
        actor=people["lead"], title="Churn", severity="S3", model_slugs=["churn"]
    )
    c = as_user(pooled)
    r = c.get(BASE)
    assert [row["id"] for row in r.json()["results"]] == [incident.pk]
    assert c.get(f"{BASE}/{incident.pk}").status_code == 200
    for path in ("", "/notes"):
        r = c.get(f"{BASE}/{other.pk}{path}")
        assert r.status_code == 404 and r.json()["errors"] == {
            "id": [f"No incident INC-{other.pk}."]
        }
    assert c.get(f"{BASE}?model=churn").status_code == 400  # a model they cannot see
    assert c.patch(f"{BASE}/{other.pk}", {"version": 1}, format="json").status_code == 404


def test_service_tokens_people_without_a_role_and_anonymous_read_nothing(people, incident, api):
    assert api.get(BASE).status_code == 403
    assert api.get(f"{BASE}/{incident.pk}").status_code == 403
    assert api.post(BASE, {}, format="json").status_code == 403
    assert as_user(people["nobody"]).get(BASE).status_code == 403
    assert as_user(people["nobody"]).get(f"{BASE}/{incident.pk}").status_code == 403
    assert APIClient().get(BASE).status_code == 401
    assert APIClient().get(f"{BASE}/{incident.pk}").status_code == 401


@pytest.mark.parametrize("role", ["pooled", "committee"])
def test_readers_never_write(people, incident, pooled, role):
    c = as_user(pooled if role == "pooled" else people[role])
    pk = incident.pk
    calls = [
        ("post", BASE, {"title": "T", "severity": "S2", "models": ["card-fraud"]}),
        ("patch", f"{BASE}/{pk}", {"version": 1, "title": "Changed"}),
        ("post", f"{BASE}/{pk}/transitions", {"event": "triage", "version": 1}),
        ("post", f"{BASE}/{pk}/people", {"action": "commander", "username": "sam"}),
        ("post", f"{BASE}/{pk}/links", {"failure_modes": []}),
        ("post", f"{BASE}/{pk}/notes", {"body": "Hello"}),
    ]
    before = audit_count()
    for method, path, body in calls:
        r = getattr(c, method)(path, body, format="json")
        assert r.status_code == 403, (path, r.json())
    incident.refresh_from_db()
    assert (incident.version, incident.title, incident.status) == (1, "Fraud scores drifting",
                                                                    "detected")  # fmt: skip
    assert audit_count() == before and Incident.objects.count() == 1


def test_catalog_editors_read_every_incident_and_write_none(people, incident):
    """The pages' rule: catalog editors read every incident (post-mortems feed the catalog),
    and run none."""
    c = as_user(people["catalog_editor"])
    assert c.get(BASE).json()["count"] == 1
    assert c.get(f"{BASE}/{incident.pk}").status_code == 200
    r = c.post(f"{BASE}/{incident.pk}/notes", {"body": "hi"}, format="json")
    assert r.status_code == 403


def test_a_reviewer_on_the_team_writes_notes(people, incident, pooled):
    services.incident_member_add(
        incident=incident, actor=people["lead"], username="ana", role="participant"
    )
    r = as_user(pooled).post(f"{BASE}/{incident.pk}/notes", {"body": "Seen it too."}, format="json")
    assert r.status_code == 201 and r.json()["author"] == "ana"


# --- edits ------------------------------------------------------------------------------------
def test_edit_with_the_version_and_409_when_stale(people, incident):
    c = as_user(people["engineer"])
    r = c.patch(
        f"{BASE}/{incident.pk}",
        {"version": 1, "title": "Fraud drift", "severity": "S1",
         "impact_started_at": "2026-01-01T00:00:00Z"},
        format="json",
    )  # fmt: skip
    assert r.status_code == 200, r.json()
    assert r.json()["title"] == "Fraud drift" and r.json()["severity"] == "S1"
    assert r.json()["version"] == 2
    stale = c.patch(f"{BASE}/{incident.pk}", {"version": 1, "title": "Again"}, format="json")
    assert stale.status_code == 409 and "version" in stale.json()["errors"]
    incident.refresh_from_db()
    assert incident.title == "Fraud drift"
    event = AuditEvent.objects.get(verb="playbooks.incident.edited")
    assert event.actor_id == str(people["engineer"].pk)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "version"),
        ({"version": "one"}, "version"),
        ({"version": 1, "title": ""}, "title"),
        ({"version": 1, "severity": "high"}, "severity"),
        ({"version": 1, "detected_at": None}, "detected_at"),
        ({"version": 1, "impact_started_at": "2999-01-01T00:00:00Z"}, "detected_at"),
        ({"version": 1, "contained_at": "2026-01-01T00:00:00Z"}, "contained_at"),
        ({"version": 1, "cancelled_at": "2026-01-01T00:00:00Z"}, "cancelled_at"),
        ({"version": 1, "status": "closed"}, "status"),
    ],
)
def test_bad_edits_name_the_field_and_change_nothing(people, incident, body, field):
    r = as_user(people["lead"]).patch(f"{BASE}/{incident.pk}", body, format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json()["errors"], r.json()
    incident.refresh_from_db()
    assert incident.version == 1 and incident.impact_started_at is None


def test_out_of_order_milestones_are_400_naming_the_field(people, incident):
    c = as_user(people["lead"])
    r = c.post(f"{BASE}/{incident.pk}/transitions", {"event": "contain", "version": 1},
               format="json")  # fmt: skip
    assert r.status_code == 200
    detected = incident.detected_at
    early = (detected - dt.timedelta(hours=1)).isoformat()
    r = c.patch(f"{BASE}/{incident.pk}", {"version": 2, "contained_at": early}, format="json")
    assert r.status_code == 400 and "contained_at" in r.json()["errors"]


# --- transitions ------------------------------------------------------------------------------
def test_the_lifecycle_through_the_api(people, incident):
    c = as_user(people["engineer"])
    version = 1
    for event, status, milestone in [
        ("triage", "triaged", "triaged_at"), ("contain", "contained", "contained_at"),
        ("remediate", "remediated", "remediated_at"), ("verify", "verified", "verified_at"),
        ("close", "closed", "closed_at"),
    ]:  # fmt: skip
        if event == "close":
            # An S2 incident closes once its post-mortem is published (through the API too).
            pm = c.put(f"{BASE}/{incident.pk}/postmortem", {"summary": "Drift."}, format="json")
            assert pm.status_code == 200, pm.json()
            published = c.post(
                f"{BASE}/{incident.pk}/postmortem/publish",
                {"base_version": pm.json()["version"]},
                format="json",
            )
            assert published.status_code == 200, published.json()
        r = c.post(
            f"{BASE}/{incident.pk}/transitions",
            {"event": event, "version": version, "reason": "No root cause yet: still digging."},
            format="json",
        )
        assert r.status_code == 200, (event, r.json())
        body = r.json()
        assert body["status"] == status and body["milestones"][milestone] is not None
        version = body["version"]
    assert body["durations"]["time_to_contain"] is not None
    assert body["durations"]["time_to_resolve"] is not None
    actors = set(
        AuditEvent.objects.filter(verb__startswith="playbooks.incident.")
        .exclude(verb="playbooks.incident.opened")
        .values_list("actor_id", flat=True)
    )
    assert actors == {str(people["engineer"].pk)}


def test_a_transition_at_an_earlier_time(people, fraud_model):
    incident = services.incident_open(
        actor=people["lead"], title="Late", severity="S3", model_slugs=["card-fraud"],
        detected_at=clock.now() - dt.timedelta(hours=1),
    )  # fmt: skip
    at = (incident.detected_at + dt.timedelta(minutes=7)).astimezone(dt.UTC)
    r = as_user(people["lead"]).post(
        f"{BASE}/{incident.pk}/transitions",
        {"event": "triage", "version": 1, "at": at.isoformat()},
        format="json",
    )
    assert r.status_code == 200
    assert r.json()["milestones"]["triaged_at"] == at.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"event": "close", "version": 1}, 409, "event"),
        ({"event": "verify", "version": 1}, 409, "event"),
        ({"event": "triage", "version": 7}, 409, "version"),
        ({"event": "cancel", "version": 1}, 400, "reason"),
        ({"event": "explode", "version": 1}, 400, "event"),
        ({"event": "triage"}, 400, "version"),
        ({"event": "triage", "version": 1, "at": "2999-01-01T00:00:00Z"}, 400, "at"),
        ({"event": "triage", "version": 1, "at": "2000-01-01T00:00:00Z"}, 400, "at"),
        ({"event": "triage", "version": 1, "by": "lee"}, 400, "by"),
    ],
)
def test_refused_transitions_change_nothing(people, incident, body, status, field):
    r = as_user(people["lead"]).post(f"{BASE}/{incident.pk}/transitions", body, format="json")
    assert r.status_code == status, r.json()
    assert field in r.json()["errors"], r.json()
    incident.refresh_from_db()
    assert (incident.status, incident.version, incident.triaged_at) == ("detected", 1, None)


def test_cancel_with_a_reason(people, incident):
    r = as_user(people["lead"]).post(
        f"{BASE}/{incident.pk}/transitions",
        {"event": "cancel", "version": 1, "reason": "A test alert."},
        format="json",
    )
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "A test alert."
    assert r.json()["milestones"]["cancelled_at"] is not None


# --- people, links, notes ----------------------------------------------------------------------
def test_hand_over_command_and_roles(people, incident):
    c = as_user(people["lead"])
    url = f"{BASE}/{incident.pk}/people"
    r = c.post(url, {"action": "commander", "username": "sam", "version": 1}, format="json")
    assert r.status_code == 200 and r.json()["commander"] == "sam"
    assert r.json()["opened_by"] == "lee"
    stale = c.post(url, {"action": "commander", "username": "lee", "version": 1}, format="json")
    assert stale.status_code == 409 and "version" in stale.json()["errors"]
    r = c.post(url, {"action": "add", "username": "ana", "role": "observer"}, format="json")
    assert r.status_code == 200 and r.json()["people"] == [{"username": "ana", "role": "observer"}]
    again = c.post(url, {"action": "add", "username": "ana", "role": "observer"}, format="json")
    assert again.status_code == 409
    r = c.post(url, {"action": "remove", "username": "ana", "role": "observer"}, format="json")
    assert r.status_code == 200 and r.json()["people"] == []
    gone = c.post(url, {"action": "remove", "username": "ana", "role": "observer"}, format="json")
    assert gone.status_code == 404
    event = AuditEvent.objects.get(verb="playbooks.incident.commander_set")
    assert event.actor_id == str(people["lead"].pk)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "add", "username": "ana"}, "role"),
        ({"action": "add", "username": "ana", "role": "boss"}, "role"),
        ({"action": "add", "username": "ghost", "role": "scribe"}, "username"),
        ({"action": "commander", "username": "ana"}, "commander"),
        ({"action": "promote", "username": "ana"}, "action"),
        ({"username": "ana"}, "action"),
    ],
)
def test_bad_people_input(people, incident, body, field):
    r = as_user(people["lead"]).post(f"{BASE}/{incident.pk}/people", body, format="json")
    assert r.status_code == 400 and field in r.json()["errors"], r.json()
    assert not IncidentMember.objects.exists()
    incident.refresh_from_db()
    assert incident.commander == people["lead"]


def test_links(people, incident, churn, catalog):
    alert = alert_on(churn)
    c = as_user(people["engineer"])
    url = f"{BASE}/{incident.pk}/links"
    bad = c.post(url, {"alerts": [alert.pk]}, format="json")  # churn is not linked yet
    assert bad.status_code == 400 and "alerts" in bad.json()["errors"]
    r = c.post(
        url,
        {"models": ["churn"], "alerts": [alert.pk], "failure_modes": ["currency-mix-drift"]},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert [m["slug"] for m in r.json()["models"]] == ["card-fraud", "churn"]
    assert r.json()["alerts"] == [alert.pk]
    assert r.json()["failure_modes"] == ["currency-mix-drift"]
    for body, field in [({"models": ["nope"]}, "models"), ({"failure_modes": ["x"]},
                        "failure_modes"), ({"review_items": ["a"]}, "review_items.0")]:  # fmt: skip
        r = c.post(url, body, format="json")
        assert r.status_code == 400 and field in r.json()["errors"]


def test_notes(people, incident):
    c = as_user(people["engineer"])
    url = f"{BASE}/{incident.pk}/notes"
    for body in ("First.", "Second."):
        r = c.post(url, {"body": body}, format="json")
        assert r.status_code == 201 and r.json()["author"] == "sam"
    assert c.post(url, {"body": "  "}, format="json").status_code == 400
    assert c.post(url, {"text": "x"}, format="json").status_code == 400
    page = c.get(url + "?limit=1&offset=1").json()
    assert page["count"] == 2 and [n["body"] for n in page["results"]] == ["Second."]
    assert IncidentNote.objects.count() == 2
    event = AuditEvent.objects.filter(verb="playbooks.incident.noted").first()
    assert event.actor_id == str(people["engineer"].pk)


# --- lists --------------------------------------------------------------------------------------
def test_limit_offset_and_filters(people, fraud_model, churn):
    lead = people["lead"]
    made = []
    for n, (severity, model) in enumerate([("S1", "card-fraud"), ("S2", "churn"),
                                           ("S3", "card-fraud")]):  # fmt: skip
        made.append(
            services.incident_open(
                actor=lead,
                title=f"I{n}",
                severity=severity,
                model_slugs=[model],
                detected_at=clock.now() - dt.timedelta(hours=3 - n),
            )  # fmt: skip
        )
    services.incident_transition(
        incident=made[0], event="cancel", actor=lead, base_version=1, reason="Noise."
    )
    c = as_user(people["committee"])
    page = c.get(f"{BASE}?limit=2").json()
    assert page["count"] == 3 and [r["title"] for r in page["results"]] == ["I2", "I1"]
    assert page["next"] is not None
    assert [r["title"] for r in c.get(f"{BASE}?limit=2&offset=2").json()["results"]] == ["I0"]
    titles = lambda q: [r["title"] for r in c.get(f"{BASE}?{q}").json()["results"]]  # noqa: E731
    assert titles("status=open") == ["I2", "I1"]
    assert titles("status=cancelled") == ["I0"]
    assert titles("status=detected") == ["I2", "I1"]
    assert titles("status=closed") == []
    assert titles("severity=S2") == ["I1"]
    assert titles("model=card-fraud") == ["I2", "I0"]
    for query, field in [("status=lost", "status"), ("severity=S0", "severity"),
                         ("model=nope", "model"), ("offset=-1", "offset"),
                         ("offset=abc", "offset")]:  # fmt: skip
        r = c.get(f"{BASE}?{query}")
        assert r.status_code == 400 and field in r.json()["errors"], query


def test_the_list_reads_in_a_fixed_number_of_queries(
    people, fraud_model, django_assert_max_num_queries
):
    for n in range(5):
        services.incident_open(
            actor=people["lead"], title=f"I{n}", severity="S2", model_slugs=["card-fraud"]
        )
    c = as_user(people["engineer"])
    with django_assert_max_num_queries(16):
        r = c.get(BASE)
    assert r.json()["count"] == 5


def test_any_accept_header_gets_json(people, incident):
    c = as_user(people["engineer"])
    for accept in ("text/html", "application/xml", "*/*"):
        r = c.get(f"{BASE}/{incident.pk}", HTTP_ACCEPT=accept)
        assert r.status_code == 200 and r["Content-Type"].startswith("application/json")
    assert c.get(f"{BASE}/99999999999").status_code == 404
