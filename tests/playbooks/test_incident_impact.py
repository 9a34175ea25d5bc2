"""An incident's affected predictions, their re-review, the verify guards and the impact
start proposed from the monitors' buckets (issue 16)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from playbooks.incidents import detection, ledger, rca, services
from playbooks.models import IncidentItem
from reviewapp.core import clock
from reviewapp.core.exceptions import PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent, AuditSubject
from reviewapp.failsafe.models import Alert
from reviewapp.models import Decision, PoolMembership, Prediction, Purpose, ReviewItem
from tests.factories import MLModelFactory
from tests.failsafe.monitor_helpers import buckets, folded

pytestmark = pytest.mark.django_db
_seq = itertools.count(1)
NOW = dt.datetime(2026, 11, 20, 12, 2, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def model():
    return MLModelFactory(slug="card-fraud", criticality="critical")


@pytest.fixture
def other():
    return MLModelFactory(slug="loan-risk")


def pred(model, at, status=Prediction.Status.PASSED, *, routed=False, mode="normal"):
    return Prediction.objects.create(
        model=model, external_id=f"p-{next(_seq)}", model_version="1", input={"a": 1},
        output={"label": "legit"}, label="legit", confidence=0.97, occurred_at=at,
        received_at=at, status=status, routed=routed, reason_codes=[], routed_at=at,
        routing_mode=mode,
    )  # fmt: skip


def open_incident(actor, *models, impact=None, detected=None):
    return services.incident_open(
        actor=actor, title="Fraud scores drifting", severity="S2",
        model_slugs=[m.slug for m in models], impact_started_at=impact,
        detected_at=detected or NOW - 3 * H,
    )  # fmt: skip


@pytest.fixture
def scene(people, model, other):
    """Inside the window (impact NOW-14h .. containment NOW-1h): 3 passed on the model (two on
    one day, one the next), 1 passed on the other model; outside or not affected: before the
    impact, after containment, routed, halted (fallback), passed under a halted mode."""
    day1 = dt.datetime(2026, 11, 19, 23, 0, tzinfo=dt.UTC)
    inside = [pred(model, NOW - 5 * H), pred(model, NOW - 4 * H), pred(model, day1)]
    also = pred(other, NOW - 2 * H)
    outside = [
        pred(model, NOW - 20 * H),
        pred(model, NOW - 30 * dt.timedelta(minutes=1)),
        pred(model, NOW - 4 * H, Prediction.Status.IN_REVIEW, routed=True),
        pred(model, NOW - 4 * H, Prediction.Status.FALLBACK, mode="halted"),
        pred(model, NOW - 4 * H, mode="halted"),
    ]
    unrelated = pred(MLModelFactory(slug="chest-xray"), NOW - 4 * H)
    incident = open_incident(people["lead"], model, other, impact=NOW - 14 * H)
    incident.refresh_from_db()
    services.incident_transition(
        incident=incident, event="contain", actor=people["lead"],
        base_version=incident.version, at=NOW - H,
    )  # fmt: skip
    incident.refresh_from_db()
    return {"incident": incident, "inside": inside, "also": also, "outside": outside,
            "unrelated": unrelated}  # fmt: skip


def test_the_ledger_counts_what_passed_in_the_window(scene, people):
    incident = scene["incident"]
    ids = set(ledger.affected_predictions(incident).values_list("id", flat=True))
    assert ids == {p.pk for p in scene["inside"]} | {scene["also"].pk}
    days = ledger.affected_per_day(incident)
    assert days == [
        {"day": dt.date(2026, 11, 19), "model": "card-fraud", "count": 1},
        {"day": dt.date(2026, 11, 20), "model": "card-fraud", "count": 2},
        {"day": dt.date(2026, 11, 20), "model": "loan-risk", "count": 1},
    ]
    summary = ledger.affected_summary(incident)
    assert summary["total"] == 4
    assert (summary["queued"], summary["rereviewed"], summary["overturned"]) == (0, 0, 0)
    assert summary["window"]["start"] == NOW - 14 * H and summary["window"]["end"] == NOW - H


def test_without_impact_start_or_containment_the_window_is_detection_to_now(people, model):
    early = pred(model, NOW - 5 * H)
    late = pred(model, NOW - 10 * dt.timedelta(minutes=1))
    incident = open_incident(people["lead"], model)  # detected NOW-3h, not contained
    assert list(ledger.affected_predictions(incident).values_list("id", flat=True)) == [late.pk]
    assert early.pk not in ledger.affected_predictions(incident).values_list("id", flat=True)


def test_examples_follow_the_readers_visibility(scene, people, model):
    incident = scene["incident"]
    reviewer = people["reviewer"]
    assert ledger.affected_examples(incident, reviewer) == []
    PoolMembership.objects.create(model=model, user=reviewer)
    reviewer = type(reviewer).objects.get(pk=reviewer.pk)  # a fresh visibility cache
    shown = ledger.affected_examples(incident, reviewer)
    assert {p.model.slug for p in shown} == {"card-fraud"} and len(shown) == 3
    assert len(ledger.affected_examples(incident, people["engineer"])) == 4


def test_queue_all_is_idempotent_audited_and_prioritised(scene, people, settings):
    settings.INCIDENT_RECHECK_SLA_MINUTES = 90
    incident = scene["incident"]
    done = ledger.incident_recheck_queue(incident=incident, actor=people["engineer"], mode="all")
    assert done == {"affected": 4, "queued": 4, "linked": 0, "already": 0, "total": 4}
    items = ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK)
    assert items.count() == 4
    fraud = items.get(prediction=scene["inside"][0])
    assert fraud.priority == 70 and fraud.sla_due_at == NOW + dt.timedelta(minutes=90)
    assert items.get(prediction=scene["also"]).priority == 50
    assert IncidentItem.objects.filter(incident=incident, kind="recheck").count() == 4
    event = AuditEvent.objects.get(verb="playbooks.incident.recheck_queued")
    assert sorted(event.data["predictions"]) == sorted(
        items.values_list("prediction_id", flat=True)
    )
    subjects = AuditSubject.objects.filter(event=event)
    assert subjects.filter(target_type="reviewapp.prediction").count() == 4
    assert subjects.filter(target_type="playbooks.incident", target_id=str(incident.pk)).exists()
    # Twice: nothing new, no duplicate item, no second event.
    again = ledger.incident_recheck_queue(incident=incident, actor=people["engineer"], mode="all")
    assert again == {"affected": 4, "queued": 0, "linked": 0, "already": 4, "total": 4}
    assert items.count() == 4
    assert AuditEvent.objects.filter(verb="playbooks.incident.recheck_queued").count() == 1


def test_a_sample_respects_its_size_and_the_rest_follows(scene, people):
    incident = scene["incident"]
    first = ledger.incident_recheck_queue(
        incident=incident, actor=people["lead"], mode="sample", size=2
    )
    assert (first["queued"], first["total"]) == (2, 2)
    second = ledger.incident_recheck_queue(
        incident=incident, actor=people["lead"], mode="sample", size="10"
    )
    assert (second["queued"], second["already"], second["total"]) == (2, 2, 4)
    assert ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).count() == 4


def test_a_prediction_queued_by_another_incident_is_linked_not_duplicated(scene, people, model):
    first = scene["incident"]
    ledger.incident_recheck_queue(incident=first, actor=people["lead"], mode="all")
    second = open_incident(people["engineer"], model, impact=NOW - 14 * H)
    done = ledger.incident_recheck_queue(incident=second, actor=people["engineer"], mode="all")
    # Not contained: its window runs to now, so one more (received after the first's
    # containment) is new; the three the first incident queued are linked.
    assert (done["queued"], done["linked"]) == (1, 3)
    assert ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).count() == 5
    shared = set(ledger.recheck_items(first)) & set(ledger.recheck_items(second))
    assert len(shared) == 3


@pytest.mark.parametrize(
    ("mode", "size", "field"),
    [("some", None, "mode"), ("sample", None, "size"), ("sample", 0, "size"),
     ("sample", "ten", "size"), ("sample", 10**9, "size"), ("sample", True, "size")],
)  # fmt: skip
def test_bad_requests_name_the_field_and_queue_nothing(scene, people, mode, size, field):
    with pytest.raises(ServiceError) as exc:
        ledger.incident_recheck_queue(
            incident=scene["incident"], actor=people["lead"], mode=mode, size=size
        )
    assert field in exc.value.errors
    assert not ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).exists()


def test_all_is_bounded(scene, people, settings):
    settings.INCIDENT_RECHECK_MAX = 3
    with pytest.raises(ServiceError) as exc:
        ledger.incident_recheck_queue(incident=scene["incident"], actor=people["lead"], mode="all")
    assert "mode" in exc.value.errors
    assert not ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).exists()


@pytest.mark.parametrize("who", ["reviewer", "committee", "catalog_editor"])
def test_only_runners_queue(scene, people, who):
    with pytest.raises(PermissionDenied):
        ledger.incident_recheck_queue(incident=scene["incident"], actor=people[who], mode="all")


def decide(item, reviewer, action, label):
    ReviewItem.objects.filter(pk=item.pk).update(status="decided", decided_at=NOW)
    return Decision.objects.create(
        item=item, prediction=item.prediction, model=item.model, reviewer=reviewer,
        action=action, predicted_label="legit", final_label=label, model_confidence=0.97,
        decided_at=NOW,
    )  # fmt: skip


def test_progress_after_one_accept_and_one_override(scene, people):
    incident = scene["incident"]
    ledger.incident_recheck_queue(incident=incident, actor=people["lead"], mode="all")
    first, second, *_ = ledger.recheck_items(incident).select_related("prediction").order_by("id")
    decide(first, people["lead"], "accept", "legit")
    decide(second, people["lead"], "override", "fraud")
    summary = ledger.affected_summary(incident)
    assert (summary["queued"], summary["rereviewed"], summary["overturned"],
            summary["pending"]) == (4, 2, 1, 2)  # fmt: skip
    # An undone override counts no more.
    Decision.objects.filter(action="override").update(undone_at=NOW)
    assert ledger.recheck_progress(incident)["overturned"] == 0


def remediated(incident, actor):
    for event in ("triage", "remediate") if incident.status == "detected" else ("remediate",):
        incident.refresh_from_db()
        services.incident_transition(
            incident=incident, event=event, actor=actor, base_version=incident.version
        )
    incident.refresh_from_db()
    return incident


def test_verify_waits_for_open_rechecks_and_says_how_many(scene, people):
    incident = scene["incident"]
    lead = people["lead"]
    ledger.incident_recheck_queue(incident=incident, actor=lead, mode="sample", size=3)
    remediated(incident, lead)
    with pytest.raises(ServiceError) as exc:
        services.incident_transition(incident=incident, event="verify", actor=lead,
                                     base_version=incident.version, reason="no single cause")  # fmt: skip
    assert exc.value.errors["rechecks"] == [
        "3 re-review items are still open: verify once they are decided."
    ]
    for item in ledger.recheck_items(incident).select_related("prediction"):
        decide(item, lead, "accept", "legit")
    services.incident_transition(incident=incident, event="verify", actor=lead,
                                 base_version=incident.version, reason="no single cause")  # fmt: skip
    incident.refresh_from_db()
    assert incident.status == "verified" and incident.no_root_cause_reason == "no single cause"


def test_verify_needs_a_confirmed_hypothesis_or_a_reason(people, model):
    lead = people["lead"]
    incident = open_incident(lead, model)
    remediated(incident, lead)
    with pytest.raises(ServiceError) as exc:
        services.incident_transition(
            incident=incident, event="verify", actor=lead, base_version=incident.version
        )
    assert "confirm a hypothesis" in exc.value.errors["reason"][0]
    h = rca.hypothesis_add(incident=incident, actor=lead, statement="A currency mix shift")
    with pytest.raises(ServiceError):  # open is not enough
        services.incident_transition(
            incident=incident, event="verify", actor=lead, base_version=incident.version
        )
    rca.hypothesis_decide(incident=incident, actor=lead, hypothesis_id=h.pk,
                          base_version=h.version, status="confirmed")  # fmt: skip
    services.incident_transition(
        incident=incident, event="verify", actor=lead, base_version=incident.version
    )
    incident.refresh_from_db()
    assert incident.status == "verified" and incident.no_root_cause_reason == ""


# -- the impact start proposed from the monitors ---------------------------------------------
FIVE = dt.timedelta(minutes=5)
T = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def test_the_proposal_is_the_first_bucket_of_the_run_before_detection(people, model):
    # ood_rate (bound 0.3): inside until 10:30, then out of band from 10:30 to detection.
    buckets(model, end=T - 90 * dt.timedelta(minutes=1), count=12, received=100, ood=5)
    buckets(model, end=T, count=18, received=100, ood=60)
    folded(T + dt.timedelta(minutes=2))
    incident = open_incident(people["lead"], model, detected=T - FIVE)
    proposal = detection.impact_start_proposal(incident)
    assert proposal is not None
    assert proposal["at"] == T - 90 * dt.timedelta(minutes=1)
    evidence = proposal["evidence"]
    assert (evidence["model"], evidence["monitor"], evidence["metric"]) == (
        "card-fraud", "ood-rate", "ood_rate",
    )  # fmt: skip
    assert evidence["bound"] == 0.3 and evidence["value"] == pytest.approx(0.6)
    assert proposal["is_current"] is False
    # Taken: it becomes the impact start, through the ordinary edit.
    incident.refresh_from_db()
    services.incident_edit(incident=incident, actor=people["lead"],
                           base_version=incident.version, impact_started_at=proposal["at"])  # fmt: skip
    incident.refresh_from_db()
    assert detection.impact_start_proposal(incident)["is_current"] is True


def test_an_open_alert_earlier_than_the_buckets_wins(people, model):
    buckets(model, end=T, count=6, received=100, ood=60)
    folded(T + dt.timedelta(minutes=2))
    Alert.objects.create(model=model, monitor="override-rate", severity="S2",
                         rule={"metric": "override_rate", "op": ">", "bound": 0.3},
                         since=T - 2 * H, value=0.41)  # fmt: skip
    incident = open_incident(people["lead"], model, detected=T - FIVE)
    proposal = detection.impact_start_proposal(incident)
    assert proposal["at"] == T - 2 * H and proposal["evidence"]["source"] == "alert"
    assert len(proposal["candidates"]) == 2


def test_nothing_out_of_band_proposes_nothing(people, model):
    buckets(model, end=T, count=12, received=100, ood=5)
    folded(T + dt.timedelta(minutes=2))
    incident = open_incident(people["lead"], model, detected=T - FIVE)
    assert detection.impact_start_proposal(incident) is None
