"""The "Affected predictions" and "Root cause" sections and their API, per role (issue 16)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from rest_framework.test import APIClient

from playbooks.incidents import services
from playbooks.models import Hypothesis
from reviewapp.accounts.services import personal_token_create
from reviewapp.core import clock
from reviewapp.models import PoolMembership, Prediction, Purpose, ReviewItem
from tests.factories import MLModelFactory

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)
H = dt.timedelta(hours=1)


@pytest.fixture
def model():
    return MLModelFactory(slug="card-fraud")


@pytest.fixture
def incident(people, model):
    now = clock.now()
    for i in range(5):
        at = now - (i + 1) * H
        Prediction.objects.create(
            model=model, external_id=f"w-{next(_seq)}", model_version="1", input={"a": 1},
            output={"label": "legit"}, label="legit", confidence=0.97, occurred_at=at,
            received_at=at, status="passed", routed=False, reason_codes=[], routed_at=at,
        )  # fmt: skip
    return services.incident_open(
        actor=people["lead"], title="Fraud scores drifting", severity="S2",
        model_slugs=[model.slug], impact_started_at=now - 8 * H, detected_at=now - 2 * H,
    )  # fmt: skip


def api(user) -> APIClient:
    c = APIClient()
    c.credentials(
        HTTP_AUTHORIZATION=f"Bearer {personal_token_create(user=user, name='t', days=1).token}"
    )
    return c


@pytest.mark.parametrize("role", ["engineer", "lead"])
def test_runners_see_the_sections_and_their_forms_and_use_them(client, people, incident, role):
    client.force_login(people[role])
    page = client.get(f"/incidents/{incident.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Affected predictions" in html and "Root cause" in html
    assert "Queue re-review" in html and "Add hypothesis" in html
    assert "5</strong> predictions passed automatically" in html
    r = client.post(f"/incidents/{incident.pk}/rechecks/", {"mode": "sample", "size": "2"})
    assert r.status_code == 302 and r.url.endswith("#affected")
    assert ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).count() == 2
    r = client.post(f"/incidents/{incident.pk}/hypotheses/",
                    {"statement": "EUR share doubled", "confidence": "60"})  # fmt: skip
    h = Hypothesis.objects.get()
    r = client.post(f"/incidents/{incident.pk}/hypotheses/{h.pk}/decide/",
                    {"version": h.version, "status": "confirmed"})  # fmt: skip
    h.refresh_from_db()
    assert h.status == "confirmed"
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "1 confirmed root cause" in page and "Queued" in page


def test_a_refusal_goes_back_with_the_message(client, people, incident):
    client.force_login(people["lead"])
    client.post(f"/incidents/{incident.pk}/hypotheses/", {"statement": "X", "confidence": "5"})
    h = Hypothesis.objects.get()
    r = client.post(f"/incidents/{incident.pk}/hypotheses/{h.pk}/decide/",
                    {"version": h.version, "status": "refuted"}, follow=True)  # fmt: skip
    assert "Say what refuted it" in r.content.decode()
    r = client.post(f"/incidents/{incident.pk}/hypotheses/{h.pk}/",
                    {f"h{h.pk}-statement": "Y", f"h{h.pk}-confidence": "5",
                     f"h{h.pk}-version": "99"}, follow=True)  # fmt: skip
    assert "Someone changed this hypothesis" in r.content.decode()
    h.refresh_from_db()
    assert (h.statement, h.status) == ("X", "open")


def test_pool_reviewer_reads_only_and_outsider_gets_404(client, people, incident, model):
    reviewer = people["reviewer"]
    client.force_login(reviewer)
    assert client.get(f"/incidents/{incident.pk}/").status_code == 404
    assert client.post(f"/incidents/{incident.pk}/rechecks/", {"mode": "all"}).status_code == 404
    PoolMembership.objects.create(user=reviewer, model=model)
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Affected predictions" in html and "Queue re-review" not in html
    assert "Add hypothesis" not in html and "w-1" in html  # its examples are readable
    assert client.post(f"/incidents/{incident.pk}/rechecks/", {"mode": "all"}).status_code == 403
    assert client.post(f"/incidents/{incident.pk}/hypotheses/", {"statement": "x",
                       "confidence": "1"}).status_code == 403  # fmt: skip
    assert not ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).exists()


def test_committee_reads(client, people, incident):
    client.force_login(people["committee"])
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Affected predictions" in html and "Queue re-review" not in html
    assert client.post(f"/incidents/{incident.pk}/rechecks/", {"mode": "all"}).status_code == 403


def test_use_the_proposed_impact_start(client, people, incident):
    client.force_login(people["lead"])
    at = (clock.now() - 3 * H).replace(microsecond=0)
    r = client.post(f"/incidents/{incident.pk}/impact-start/",
                    {"base_version": incident.version, "at": at.isoformat()})  # fmt: skip
    assert r.status_code == 302
    incident.refresh_from_db()
    assert incident.impact_started_at == at
    r = client.post(f"/incidents/{incident.pk}/impact-start/",
                    {"base_version": incident.version, "at": "yesterday"}, follow=True)  # fmt: skip
    assert "Not a time" in r.content.decode()


# -- the API ---------------------------------------------------------------------------------


def test_api_affected_rechecks_and_hypotheses(people, incident):
    c = api(people["engineer"])
    r = c.get(f"/api/v1/incidents/{incident.pk}/affected")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 5 and len(body["examples"]) == 5 and body["queued"] == 0
    assert sum(d["count"] for d in body["per_day"]) == 5
    r = c.post(f"/api/v1/incidents/{incident.pk}/rechecks", {"mode": "sample", "size": 3},
               format="json")  # fmt: skip
    assert r.status_code == 201 and r.json()["queued"] == 3
    r = c.post(f"/api/v1/incidents/{incident.pk}/rechecks", {"mode": "all"}, format="json")
    assert r.json() == {"affected": 5, "queued": 2, "linked": 0, "already": 3, "total": 5}
    bad = c.post(f"/api/v1/incidents/{incident.pk}/rechecks", {"mode": "some"}, format="json")
    assert bad.status_code == 400 and "mode" in bad.json()["errors"]
    bad = c.post(f"/api/v1/incidents/{incident.pk}/rechecks", {"mode": "sample"}, format="json")
    assert bad.status_code == 400 and "size" in bad.json()["errors"]

    r = c.post(f"/api/v1/incidents/{incident.pk}/hypotheses",
               {"statement": "Upstream enrichment outage", "confidence": 30}, format="json")  # fmt: skip
    assert r.status_code == 201
    hid = r.json()["id"]
    assert c.get(f"/api/v1/incidents/{incident.pk}/hypotheses").json()["count"] == 1
    r = c.patch(f"/api/v1/incidents/{incident.pk}/hypotheses/{hid}",
                {"version": 1, "status": "refuted", "result": "The feed was up."}, format="json")  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "refuted"
    assert r.json()["decided_by"] == "sam" and r.json()["version"] == 3
    stale = c.patch(f"/api/v1/incidents/{incident.pk}/hypotheses/{hid}",
                    {"version": 1, "confidence": 5}, format="json")  # fmt: skip
    assert stale.status_code == 409
    # A refutation without a result changes nothing, even with an edit in the same call.
    h2 = c.post(f"/api/v1/incidents/{incident.pk}/hypotheses", {"statement": "B"},
                format="json").json()  # fmt: skip
    r = c.patch(f"/api/v1/incidents/{incident.pk}/hypotheses/{h2['id']}",
                {"version": 1, "confidence": 90, "status": "refuted"}, format="json")  # fmt: skip
    assert r.status_code == 400
    assert Hypothesis.objects.get(pk=h2["id"]).confidence == 50
    unknown = c.patch(f"/api/v1/incidents/{incident.pk}/hypotheses/999999",
                      {"version": 1}, format="json")  # fmt: skip
    assert unknown.status_code == 404
    extra = c.post(f"/api/v1/incidents/{incident.pk}/hypotheses",
                   {"statement": "C", "created_by": "lee"}, format="json")  # fmt: skip
    assert extra.status_code == 400


def test_api_permissions(people, incident, model):
    assert (
        api(people["committee"]).get(f"/api/v1/incidents/{incident.pk}/affected").status_code == 200
    )
    c = api(people["reviewer"])
    assert c.get(f"/api/v1/incidents/{incident.pk}/affected").status_code == 404
    PoolMembership.objects.create(user=people["reviewer"], model=model)
    c = api(people["reviewer"])
    assert c.get(f"/api/v1/incidents/{incident.pk}/hypotheses").status_code == 200
    r = c.post(f"/api/v1/incidents/{incident.pk}/rechecks", {"mode": "all"}, format="json")
    assert r.status_code == 403
    r = c.post(f"/api/v1/incidents/{incident.pk}/hypotheses", {"statement": "x"}, format="json")
    assert r.status_code == 403
    assert api(people["nobody"]).get(f"/api/v1/incidents/{incident.pk}/affected").status_code in (
        403, 404,
    )  # fmt: skip
    assert api(people["engineer"]).get("/api/v1/incidents/999999/affected").status_code == 404


def test_the_sections_cost_the_same_queries_however_many_rows(client, people, incident):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from playbooks.incidents import ledger, rca

    lead = people["lead"]
    client.force_login(lead)
    rca.hypothesis_add(incident=incident, actor=lead, statement="One")
    ledger.incident_recheck_queue(incident=incident, actor=lead, mode="sample", size=1)
    client.get(f"/incidents/{incident.pk}/")  # the top bar's cached counts, paid once
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/incidents/{incident.pk}/").status_code == 200
    for i in range(4):
        rca.hypothesis_add(incident=incident, actor=lead, statement=f"More {i}")
    ledger.incident_recheck_queue(incident=incident, actor=lead, mode="all")
    with CaptureQueriesContext(connection) as many:
        assert client.get(f"/incidents/{incident.pk}/").status_code == 200
    assert len(many) == len(few)
