"""Incident metrics: the percentile method, MTTD / MTTC / MTTR on a fixture computed by hand,
the n behind each figure and the exclusions, recurrence, overturned re-reviews, overdue action
items, visibility per role, the page per role, the API, and the demo incidents."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from playbooks import demo as playbook_demo
from playbooks.incidents import demo, metrics, services
from playbooks.models import ActionItem, Hypothesis, Incident, IncidentItem, PostMortem
from reviewapp.core import clock
from reviewapp.models import Decision, PoolMembership, Purpose
from tests.factories import MLModelFactory, make_policy
from tests.failsafe.test_purposes import RULES, route, sample

pytestmark = pytest.mark.django_db

T = dt.datetime(2026, 10, 5, 12, 0, tzinfo=dt.UTC)
M, H = dt.timedelta(minutes=1), dt.timedelta(hours=1)


def row(pk, *, impact=None, contain=None, remediate=None, status="closed", fms=(), at=T,
        severity="S2"):  # fmt: skip
    return metrics.IncidentRow(
        pk=pk, title=f"i{pk}", severity=severity, status=status, detected_at=at,
        impact_started_at=at + impact if impact is not None else None,
        contained_at=at + contain if contain is not None else None,
        remediated_at=at + remediate if remediate is not None else None,
        failure_modes=tuple(fms),
    )  # fmt: skip


# --- pure statistics ---------------------------------------------------------------------------
def test_nearest_rank_percentile():
    assert metrics.percentile(list(range(10, 101, 10)), 90) == 90  # rank ⌈0.9·10⌉ = 9
    assert metrics.percentile([1, 2, 3], 90) == 3  # rank ⌈2.7⌉ = 3
    assert metrics.percentile([4, 1, 3, 2], 50) == 2  # rank ⌈2.0⌉ = 2, sorted [1,2,3,4]
    assert metrics.percentile([4, 1, 3, 2], 51) == 3  # rank ⌈2.04⌉ = 3
    assert metrics.percentile([7], 90) == 7
    assert metrics.percentile([], 90) is None
    assert metrics.mean([]) is None and metrics.mean([1, 2, 6]) == 3
    with pytest.raises(ValueError):
        metrics.percentile([1], 0)


FIXTURE = [
    # TTD 1800 s, TTC 3600 s, TTR 14400 s
    row(1, impact=-30 * M, contain=1 * H, remediate=4 * H),
    # TTD 7200, TTC 1800, TTR 7200
    row(2, impact=-2 * H, contain=30 * M, remediate=2 * H),
    # no impact start: TTD excluded; TTC 7200, TTR 36000
    row(3, contain=2 * H, remediate=10 * H),
    # remediated without containment: TTD 600, TTC excluded, TTR 21600
    row(4, impact=-10 * M, remediate=6 * H),
    # cancelled: left out of everything
    row(5, impact=-24 * H, contain=1 * H, remediate=1 * H, status="cancelled"),
    # open, only detected: TTD 3600; TTC and TTR excluded
    row(6, impact=-1 * H, status="triaged"),
]


def test_mttd_mttc_mttr_mean_and_p90_by_hand():
    d = metrics.durations(FIXTURE)
    # TTD: 1800, 7200, 600, 3600 → mean 13200 / 4 = 3300; sorted [600, 1800, 3600, 7200],
    # p90 rank ⌈0.9·4⌉ = 4 → 7200.
    assert d.detect == metrics.Figure(mean=3300, p90=7200, n=4)
    # TTC: 3600, 1800, 7200 → mean 12600 / 3 = 4200; p90 rank ⌈2.7⌉ = 3 → 7200.
    assert d.contain == metrics.Figure(mean=4200, p90=7200, n=3)
    # TTR: 14400, 7200, 36000, 21600 → mean 79200 / 4 = 19800; p90 rank 4 → 36000.
    assert d.resolve == metrics.Figure(mean=19800, p90=36000, n=4)
    assert d.excluded == {"without_impact_start": 1, "not_contained": 2, "not_resolved": 1}
    assert d.detect.few and d.contain.few


def test_five_incidents_are_not_few():
    rows = [row(i, impact=-i * M) for i in range(1, 6)]
    fig = metrics.durations(rows).detect
    assert fig.n == 5 and not fig.few
    assert fig.mean == 180 and fig.p90 == 300  # (60+120+180+240+300)/5; rank ⌈4.5⌉ = 5


def test_counts_by_severity_and_failure_mode_leave_cancelled_out():
    rows = [
        row(1, severity="S1", fms=["drift"]),
        row(2, severity="S2", fms=["drift", "schema"]),
        row(3, severity="S2"),
        row(4, severity="S1", fms=["drift"], status="cancelled"),
    ]
    assert metrics.by_severity(rows) == [("S1", 1), ("S2", 2), ("S3", 0), ("S4", 0)]
    assert metrics.by_failure_mode(rows) == ([("drift", 2), ("schema", 1)], 1)


def test_over_time_by_week_keeps_quiet_weeks():
    rows = [
        row(1, impact=-1 * H, at=T),  # Monday 2026-10-05
        row(2, impact=-3 * H, at=T + dt.timedelta(days=2)),
        row(3, impact=-2 * H, at=T + dt.timedelta(days=14)),
        row(4, impact=-9 * H, at=T + dt.timedelta(days=3), status="cancelled"),
    ]
    buckets = metrics.over_time(rows, period="week", zone=dt.UTC, until=T + dt.timedelta(days=15))
    assert [(b.start, b.n) for b in buckets] == [
        (dt.date(2026, 10, 5), 2), (dt.date(2026, 10, 12), 0), (dt.date(2026, 10, 19), 1),
    ]  # fmt: skip
    assert buckets[0].figures.detect == metrics.Figure(mean=7200, p90=10800, n=2)
    assert metrics.period_for(rows, T + dt.timedelta(days=200)) == "month"
    assert metrics.period_for(rows, T + dt.timedelta(days=30)) == "week"
    months = metrics.over_time(rows, period="month", zone=dt.UTC, until=T + dt.timedelta(days=60))
    assert [b.start for b in months] == [dt.date(2026, 10, 1), dt.date(2026, 11, 1),
                                         dt.date(2026, 12, 1)]  # fmt: skip


def test_recurrence_needs_every_action_done_before_the_new_detection():
    day = dt.timedelta(days=1)
    a = row(1, fms=["drift"], at=T)
    early = row(2, fms=["drift"], at=T + 5 * day)  # before a's actions were done
    b = row(3, fms=["drift"], at=T + 20 * day)
    other = row(4, fms=["schema"], at=T)
    later_other = row(5, fms=["schema"], at=T + 30 * day)
    gone = row(6, fms=["labels"], at=T, status="cancelled")
    back = row(7, fms=["labels"], at=T + 30 * day)
    actions = {
        1: metrics.ActionSummary(total=2, done=2, last_done_at=T + 10 * day),
        2: metrics.ActionSummary(total=1, done=0, last_done_at=None),
        4: metrics.ActionSummary(total=2, done=1, last_done_at=T + day),  # one still open
        6: metrics.ActionSummary(total=1, done=1, last_done_at=T + day),  # cancelled incident
    }
    found = metrics.recurrences([a, early, b, other, later_other, gone, back], actions)
    assert [(r.failure_mode, r.earlier.pk, r.later.pk) for r in found] == [("drift", 1, 3)]
    assert found[0].actions_done_at == T + 10 * day
    # Done after the new detection: not a recurrence (the actions had not been done yet).
    late = {1: metrics.ActionSummary(total=1, done=1, last_done_at=T + 25 * day)}
    assert metrics.recurrences([a, b], late) == []
    # No action items at all: nothing was done, so nothing "came back after".
    assert metrics.recurrences([a, b], {}) == []


# --- from the database ----------------------------------------------------------------------
@pytest.fixture
def fraud():
    return MLModelFactory(slug="card-fraud")


@pytest.fixture
def triage():
    return MLModelFactory(slug="support-triage")


def handled(actor, model, *, title="Drift", impact=-1 * H, contain=2 * H, remediate=5 * H,
            detected=None, fms=(), severity="S2") -> Incident:  # fmt: skip
    detected = detected or clock.now() - dt.timedelta(days=10)
    incident = services.incident_open(
        actor=actor, title=title, severity=severity, model_slugs=[model.slug],
        impact_started_at=detected + impact if impact is not None else None,
        detected_at=detected, failure_mode_slugs=list(fms),
    )  # fmt: skip
    for event, offset in (("contain", contain), ("remediate", remediate)):
        if offset is not None:
            incident.refresh_from_db()
            services.incident_transition(
                incident=incident, event=event, actor=actor, base_version=incident.version,
                at=detected + offset,
            )  # fmt: skip
    return incident


def test_figures_from_the_database_and_the_model_filter(people, fraud, triage):
    sam = people["engineer"]
    handled(sam, fraud, impact=-30 * M, contain=1 * H, remediate=4 * H)
    handled(sam, fraud, impact=None, contain=2 * H, remediate=10 * H)
    handled(sam, triage, impact=-2 * H, contain=30 * M, remediate=2 * H)
    m = metrics.metrics_for(sam)
    assert m.incidents == 3
    assert m.durations.detect == metrics.Figure(mean=(1800 + 7200) / 2, p90=7200, n=2)
    assert m.durations.excluded["without_impact_start"] == 1
    one = metrics.metrics_for(sam, model_id=fraud.pk, model_slug="card-fraud")
    assert one.incidents == 2
    assert one.durations.resolve == metrics.Figure(mean=(14400 + 36000) / 2, p90=36000, n=2)


def test_the_queries_do_not_grow_with_the_incidents(people, fraud, django_assert_num_queries):
    sam = people["engineer"]
    handled(sam, fraud)
    # A fresh user: 3 queries for the roles (permissions, group permissions, groups), then
    # the incidents, their failure modes, re-reviews, overdue and all action items.
    sam = type(sam).objects.get(pk=sam.pk)
    with django_assert_num_queries(8):
        metrics.metrics_for(sam)
    for _ in range(4):
        handled(sam, fraud)
    sam = type(sam).objects.get(pk=sam.pk)
    with django_assert_num_queries(8):
        metrics.metrics_for(sam)


def test_visibility_per_role(people, fraud, triage):
    sam = people["engineer"]
    handled(sam, fraud)
    handled(sam, triage)
    assert metrics.metrics_for(people["committee"]).incidents == 2
    assert metrics.metrics_for(people["reviewer"]).incidents == 0
    PoolMembership.objects.create(user=people["reviewer"], model=triage)
    ana = type(people["reviewer"]).objects.get(pk=people["reviewer"].pk)
    assert metrics.metrics_for(ana).incidents == 1
    assert metrics.metrics_for(people["nobody"]).incidents == 0


def test_recurrence_from_action_items(people, fraud, catalog):
    sam = people["engineer"]
    now = clock.now()
    first = handled(sam, fraud, detected=now - dt.timedelta(days=40), fms=["currency-mix-drift"])
    ActionItem.objects.create(
        incident=first, kind="prevent", title="Check the mix", owner=sam,
        due_on=(now - dt.timedelta(days=20)).date(), status="done",
        done_at=now - dt.timedelta(days=25),
    )  # fmt: skip
    again = handled(sam, fraud, detected=now - dt.timedelta(days=5), fms=["currency-mix-drift"])
    [found] = metrics.metrics_for(sam).recurrences
    assert (found.earlier.pk, found.later.pk) == (first.pk, again.pk)
    # A second, open action item on the first incident: its actions are no longer all done.
    ActionItem.objects.create(
        incident=first, kind="detect", title="Alert", owner=sam,
        due_on=(now + dt.timedelta(days=3)).date(),
    )  # fmt: skip
    assert metrics.metrics_for(sam).recurrences == []


def test_overdue_action_items(people, fraud):
    sam, lee = people["engineer"], people["lead"]
    incident = handled(sam, fraud)
    today = clock.now().date()
    late = ActionItem.objects.create(
        incident=incident, kind="detect", title="Late one", owner=sam,
        due_on=today - dt.timedelta(days=3),
    )  # fmt: skip
    ActionItem.objects.create(
        incident=incident, kind="detect", title="Done late", owner=lee, status="done",
        done_at=clock.now(), due_on=today - dt.timedelta(days=3),
    )  # fmt: skip
    ActionItem.objects.create(
        incident=incident, kind="process", title="Not due", owner=lee,
        due_on=today + dt.timedelta(days=3),
    )  # fmt: skip
    [overdue] = metrics.metrics_for(sam).overdue
    assert (overdue.pk, overdue.owner, overdue.days_overdue) == (late.pk, "sam", 3)
    assert overdue.incident.pk == incident.pk


@pytest.fixture
def loans(people):
    model = MLModelFactory(slug="loans", labels=["approve", "deny"], criticality="high")
    make_policy(model, RULES)
    return model


def test_overturned_rechecks_count_as_served_wrongly(people, loans):
    sam = people["engineer"]
    ana = people["reviewer"]
    incident = handled(sam, loans)
    items = [sample(route(loans, f"r-{i}"), Purpose.INCIDENT_RECHECK) for i in range(4)]
    IncidentItem.objects.bulk_create(
        [IncidentItem(incident=incident, review_item=i, kind="recheck") for i in items]
    )
    for item, action, undone in [
        (items[0], "override", False),  # overturned
        (items[1], "accept", False),  # the model was right
        (items[2], "override", True),  # undone: does not count
    ]:  # items[3]: not reviewed yet
        Decision.objects.create(
            item=item, prediction=item.prediction, model=loans, reviewer=ana, action=action,
            final_label="deny" if action == "override" else "approve", model_confidence=0.97,
            undone_at=clock.now() if undone else None,
        )  # fmt: skip
    m = metrics.metrics_for(sam)
    [w] = m.wrongly_served
    assert (w.queued, w.rechecked, w.overturned) == (4, 1 + 1, 1)
    assert m.overturned_total == 1
    assert m.overturned_per_incident == metrics.Figure(mean=1, p90=1, n=1)


# --- the page and the API ----------------------------------------------------------------------
def test_page_per_role(client, people, fraud, triage):
    sam = people["engineer"]
    handled(sam, fraud, title="Fraud drift", impact=-30 * M)
    handled(sam, triage, title="Triage schema", impact=None)
    handled(sam, fraud, title="Fraud cancelled", contain=None, remediate=None)
    cancelled = Incident.objects.get(title="Fraud cancelled")
    services.incident_transition(
        incident=cancelled, event="cancel", actor=sam, base_version=cancelled.version,
        reason="False alarm",
    )  # fmt: skip

    for who in ("engineer", "lead", "committee"):
        client.force_login(people[who])
        page = client.get("/incidents/metrics/")
        assert page.status_code == 200, who
        text = page.content.decode()
        assert "2 incidents counted" in text
        assert "1 cancelled, not counted" in text
        assert "mean and p90 of 1 incident" in text  # time to detect: one with an impact start
        assert "1 without impact start, not counted" in text
        assert ">few<" in text
        assert "<svg" in text
    client.force_login(people["engineer"])
    one = client.get("/incidents/metrics/?model=card-fraud").content.decode()
    assert "1 incident counted" in one and "card-fraud" in one

    client.force_login(people["reviewer"])
    assert client.get("/incidents/metrics/?model=card-fraud").status_code == 404
    assert "No incident yet" in client.get("/incidents/metrics/").content.decode()
    PoolMembership.objects.create(user=people["reviewer"], model=triage)
    page = client.get("/incidents/metrics/?model=support-triage")
    assert page.status_code == 200 and "1 incident counted" in page.content.decode()
    assert client.get("/incidents/metrics/?model=card-fraud").status_code == 404

    client.force_login(people["nobody"])
    assert client.get("/incidents/metrics/").status_code == 403
    client.logout()
    assert client.get("/incidents/metrics/").status_code == 302


def test_the_list_links_the_metrics_and_model_pages_offer_them(client, people, fraud):
    from reviewapp.core import registry
    from reviewapp.core.templatetags.model_banners import ACTIONS_HOOK

    client.force_login(people["committee"])
    assert 'href="/incidents/metrics/"' in client.get("/incidents/").content.decode()
    links = [
        link
        for found in registry.run_hooks(ACTIONS_HOOK, model_slug="card-fraud", user=people["lead"])
        for link in found
    ]
    assert {"label": "Incident metrics", "url": "/incidents/metrics/?model=card-fraud"} in [
        {"label": str(link["label"]), "url": link["url"]} for link in links
    ]
    assert not [
        link
        for found in registry.run_hooks(
            ACTIONS_HOOK, model_slug="card-fraud", user=people["reviewer"]
        )
        for link in found
        if str(link["label"]) == "Incident metrics"
    ]


def test_api_gives_the_figures_with_n(people, fraud, triage):
    sam = people["engineer"]
    handled(sam, fraud, impact=-30 * M, contain=1 * H, remediate=4 * H)
    handled(sam, triage, impact=None)
    api = APIClient()
    api.force_authenticate(sam)
    body = api.get("/api/v1/incidents/metrics").json()
    assert body["incidents"] == 2 and body["model"] is None
    assert body["times"]["detect"] == {"mean_seconds": 1800.0, "p90_seconds": 1800.0, "n": 1,
                                       "few": True}  # fmt: skip
    assert body["excluded"]["without_impact_start"] == 1
    assert {r["key"]: r["n"] for r in body["by_severity"]} == {"S1": 0, "S2": 2, "S3": 0, "S4": 0}
    one = api.get("/api/v1/incidents/metrics", {"model": "card-fraud"}).json()
    assert one["model"] == "card-fraud" and one["incidents"] == 1
    assert one["times"]["resolve"]["mean_seconds"] == 14400
    missing = api.get("/api/v1/incidents/metrics", {"model": "nope"})
    assert missing.status_code == 404 and "model" in missing.json()["errors"]
    assert api.get("/api/v1/incidents/metrics", {"model": "x\x00"}).status_code in (400, 404)

    api.force_authenticate(people["reviewer"])
    assert api.get("/api/v1/incidents/metrics", {"model": "card-fraud"}).status_code == 404
    assert api.get("/api/v1/incidents/metrics").json()["incidents"] == 0
    api.force_authenticate(people["nobody"])
    assert api.get("/api/v1/incidents/metrics").status_code == 403
    api.force_authenticate(None)
    assert api.get("/api/v1/incidents/metrics").status_code in (401, 403)


# --- the demo incidents ------------------------------------------------------------------------
@pytest.fixture
def demo_world(people, catalog):
    for slug in ("card-fraud", "support-triage", "radiology-triage"):
        MLModelFactory(slug=slug)
    playbook_demo.seed_playbooks()


def test_demo_incidents_are_quick_complete_and_seeded_once(demo_world, people):
    started = time.monotonic()
    assert demo.seed_incidents() == 9
    assert time.monotonic() - started < 3
    assert demo.seed_incidents() == 0
    call_command("seed_playbooks", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Incident.objects.count() == 9
    by_status = {s: Incident.objects.filter(status=s).count() for s in Incident.Status.values}
    assert (by_status["closed"], by_status["cancelled"], by_status["triaged"]) == (7, 1, 1)
    open_one = Incident.objects.get(status="triaged")
    assert open_one.commander.username == "sam"
    assert open_one.model_links.get().model.slug == "card-fraud"
    assert open_one.playbook_version.title.startswith("Data drift")
    closed = Incident.objects.filter(status="closed")
    assert {i.severity for i in closed} == {"S1", "S2", "S3", "S4"}
    assert PostMortem.objects.filter(status="published").count() == 7
    assert Hypothesis.objects.filter(status="confirmed").count() == 7
    assert closed.filter(impact_started_at__isnull=True).count() == 2
    assert all(i.impact_started_at is None or i.impact_started_at <= i.detected_at for i in closed)
    assert clock.now() - min(i.detected_at for i in closed) <= dt.timedelta(days=90)

    m = metrics.metrics_for(people["lead"])
    assert m.incidents == 8 and m.cancelled == 1
    assert [(r.failure_mode, r.later.title) for r in m.recurrences] == [
        ("currency-mix-drift", "Currency mix drift again after the Belgian launch")
    ]
    [overdue] = m.overdue
    assert overdue.owner == "sam"
    not_due = ActionItem.objects.filter(status="open", due_on__gte=clock.now().date())
    assert not_due.count() == 1
    assert (
        ActionItem.objects.filter(status="done").count()
        > ActionItem.objects.exclude(status="done").count()
    )


def test_demo_incidents_wait_for_their_models(people, catalog):
    assert demo.seed_incidents() == 0
    assert not Incident.objects.exists()
