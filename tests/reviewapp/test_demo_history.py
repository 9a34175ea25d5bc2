"""seed_demo's month of history: written through the services at historical times (the audit
log and the rows agree, and the chain verifies), a drift episode the dashboards show as a
shift, an applied policy change voted by the committee, catalog occurrences over the month, an
open queue whose SLAs are met at the start, and the --days / --rate options."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Min
from django.db.models.functions import TruncDate
from django.test import override_settings

from catalog.models import Occurrence
from reviewapp import demo
from reviewapp.core import clock
from reviewapp.core.audit import audit_seal_all, audit_verify
from reviewapp.core.models import AuditEvent
from reviewapp.dashboards.rules import SHIFT
from reviewapp.demo_history import DRIFT_MODEL, consistent
from reviewapp.governance.models import Approval, ChangeRequest
from reviewapp.models import Decision, Prediction, PredictionPayload, ReviewItem

pytestmark = pytest.mark.django_db

OPEN = ["pending", "claimed", "escalated", "deferred"]


def seed(tmp_path, *args: str) -> str:
    out = io.StringIO()
    with override_settings(VAR_DIR=tmp_path):
        call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_a_month_of_history_through_the_services(tmp_path, client, django_user_model):
    started = clock.now()
    seed(tmp_path, "--days", "21", "--rate", "90", "--predictions", "120")
    start = started - dt.timedelta(days=21)

    # Traffic on every day of the history, at its historical time, not at seeding time.
    days = set(
        Prediction.objects.annotate(day=TruncDate("received_at")).values_list("day", flat=True)
    )
    assert len(days) >= 21
    assert Prediction.objects.aggregate(first=Min("received_at"))["first"] < start + dt.timedelta(
        days=1
    )
    # A weekly rhythm: weekends are quieter than weekdays.
    per_day = dict(
        Prediction.objects.filter(received_at__lt=started - dt.timedelta(hours=3))
        .annotate(day=TruncDate("received_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    weekend = [n for day, n in per_day.items() if day.weekday() >= 5]
    weekdays = [n for day, n in per_day.items() if day.weekday() < 5 and day != started.date()]
    assert sum(weekend) / len(weekend) < 0.75 * sum(weekdays) / len(weekdays)
    # Every label is the arg-max of its own scores.
    for output in PredictionPayload.objects.values_list("output", flat=True):
        assert output["scores"][output["label"]] == max(output["scores"].values()), output

    # Decisions by the demo reviewers, at historical times, and the audit log says the same.
    decisions = Decision.objects.select_related("reviewer")
    assert decisions.count() > 200
    assert {d.reviewer.username for d in decisions} >= {"ana", "ravi", "lee"}
    assert {"accept", "override", "escalate"} <= set(decisions.values_list("action", flat=True))
    old = decisions.filter(decided_at__lt=started - dt.timedelta(days=7)).first()
    assert old is not None
    decided = AuditEvent.objects.get(
        verb="queue.review_item.decided", target_id=str(old.item_id), data__decision=old.pk
    )
    assert abs(decided.occurred_at - old.decided_at) < dt.timedelta(seconds=5)
    # Handling times are realistic: seconds to a few minutes from claim to decision.
    claimed = AuditEvent.objects.filter(
        verb="queue.review_item.claimed", target_id=str(old.item_id)
    ).order_by("-id")[0]
    assert dt.timedelta(seconds=2) < old.decided_at - claimed.occurred_at < dt.timedelta(minutes=15)
    event_days = set(
        AuditEvent.objects.annotate(day=TruncDate("occurred_at")).values_list("day", flat=True)
    )
    assert len(event_days) >= 21

    # The chain seals and verifies over the historical events.
    audit_seal_all()
    report = audit_verify()
    assert report.ok, report.problems

    # A policy change partway through: proposed by sam, approved by the committee's quorum,
    # applied, all in the past.
    change = ChangeRequest.objects.get(model_slug="radiology-triage", proposer__username="sam")
    assert change.status == "applied"
    assert start < change.created_at < change.applied_at < started - dt.timedelta(days=5)
    voters = set(
        Approval.objects.filter(change_request=change).values_list("user__username", flat=True)
    )
    assert len(voters) >= 2 and voters <= {"cora", "cole", "cleo"}

    # Failure-mode tags over the month give the catalog occurrence trends.
    trend = Occurrence.objects.annotate(day=TruncDate("recorded_at")).values("day").distinct()
    assert trend.count() >= 10
    assert Occurrence.objects.filter(failure_mode__slug="seasonal-concept-drift").count() >= 5

    # QA samples were reviewed: calibration has decisions above the thresholds too.
    assert Decision.objects.filter(model_confidence__gte=0.9).exists()

    # The open queue: something to work on, nothing breached, not all one priority.
    now = clock.now()
    open_items = ReviewItem.objects.filter(status__in=OPEN)
    assert open_items.count() >= 20
    late = open_items.filter(sla_due_at__lte=now + dt.timedelta(minutes=1))
    assert not late.exists(), [
        (
            i.pk,
            i.model.slug,
            i.status,
            i.purpose,
            i.priority,
            str(i.created_at),
            str(i.sla_due_at),
            str(i.prediction.received_at),
            i.prediction.reason_codes,
            str(now),
            str(started),
        )
        for i in late
    ]
    assert open_items.values("priority").distinct().count() > 3
    assert open_items.values("model").distinct().count() == 3

    # The dashboards show the drift episode as a persistent shift upwards, on that model only.
    client.force_login(django_user_model.objects.get(username="lee"))
    shifts = {}
    for spec in demo.DEMO_MODELS:
        response = client.get(f"/dashboards/models/{spec['slug']}/?range=30d")
        assert response.status_code == 200
        shifts[spec["slug"]] = [e for e in response.context["episodes"] if e.kind == SHIFT]
    [drift] = shifts[DRIFT_MODEL]
    assert drift.direction > 0
    assert started - dt.timedelta(days=16) < drift.start < started - dt.timedelta(days=5)
    assert not any(shifts[slug] for slug in shifts if slug != DRIFT_MODEL)
    overview = client.get("/dashboards/?range=30d")
    assert "Persistent shift" in overview.content.decode()


def test_days_and_rate_size_the_history(tmp_path):
    out = seed(tmp_path, "--days", "3", "--rate", "200", "--predictions", "10")
    history = Prediction.objects.count() - 10
    # Three days and today's hours at about 200 a day (quieter at weekends and at night).
    assert 150 < history < 1000, history
    assert "3 days of history" in out
    first = Prediction.objects.aggregate(first=Min("received_at"))["first"]
    assert clock.now() - first > dt.timedelta(days=2)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--days", "-1"], "--days"),
        (["--days", "400"], "--days"),
        (["--rate", "0"], "--rate"),
        (["--predictions", "-5"], "--predictions"),
    ],
)
def test_bad_options_are_refused_naming_the_option_and_change_nothing(tmp_path, args, named):
    with pytest.raises(CommandError, match=named):
        seed(tmp_path, *args)
    assert not Prediction.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_seeded_database_keeps_its_history(tmp_path):
    seed(tmp_path, "--days", "2", "--rate", "60", "--predictions", "10")
    counts = (Prediction.objects.count(), Decision.objects.count())
    out = seed(tmp_path, "--days", "2", "--rate", "60")
    assert "kept their history" in out
    assert (Prediction.objects.count(), Decision.objects.count()) == counts
    assert "already present" in seed(tmp_path, "--if-empty")


def test_consistent_makes_the_label_the_arg_max():
    labels = ["fraud", "legit"]
    body = {
        "confidence": 0.45,
        "output": {"label": "fraud", "scores": {"fraud": 0.45, "legit": 0.55}},
    }
    fixed = consistent(body, labels)
    scores = fixed["output"]["scores"]
    assert scores["fraud"] > scores["legit"]
    assert fixed["confidence"] == scores["fraud"]
    same = {"confidence": 0.8, "output": {"label": "legit", "scores": {"fraud": 0.2, "legit": 0.8}}}
    assert consistent(same, labels) is same
