"""The audit verb registry: one declared vocabulary, legacy names readable, unknown ones refused."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from catalog.services import FAILURE_MODE, REVISION
from reviewapp.core import verbs
from reviewapp.core.audit import Actor, audit_record, build_event
from reviewapp.core.models import AuditEvent
from reviewapp.delivery.services import DELIVERY
from reviewapp.services.review_state import PREDICTION, REVIEW_ITEM

ACTOR = Actor.system("tests")


def test_labels_of_current_and_legacy_verbs():
    assert verbs.label("queue.prediction.routed") == "Routed to review"
    assert verbs.label("prediction.routed") == "Routed to review"
    assert verbs.label("review_item.sla_near") == "Priority raised: SLA near"
    assert verbs.label("catalog.failure_mode.publish") == "Failure mode published"
    # An old verb that was split names both of its successors.
    assert verbs.label("delivery.pending") == "Delivery retry scheduled / Delivery queued again"
    assert verbs.label("no.such.verb") == "no.such.verb"


def test_canonical_and_verbs_for_filters():
    assert verbs.canonical("review_item.woke") == "queue.review_item.woken"
    assert verbs.canonical("queue.review_item.woken") == "queue.review_item.woken"
    assert verbs.canonical("delivery.pending") == "delivery.pending"  # split: no single name
    assert verbs.verbs_for("queue.prediction.ingested") == [
        "queue.prediction.ingested",
        "prediction.ingested",
    ]
    assert verbs.verbs_for("prediction.ingested") == verbs.verbs_for("queue.prediction.ingested")
    assert "delivery.pending" in verbs.verbs_for("delivery.delivery.requeued")
    assert "delivery.pending" in verbs.verbs_for("delivery.delivery.rescheduled")
    assert verbs.verbs_for("catalog.failure_mode.returned") == [
        "catalog.failure_mode.returned",
        "catalog.failure_mode.return",
    ]


@pytest.mark.django_db
def test_writing_an_unknown_verb_raises_in_tests():
    with pytest.raises(verbs.UnknownVerb, match="not registered"):
        audit_record(actor=ACTOR, verb="queue.review_item.vanished", target=("tests.thing", 1))
    with pytest.raises(verbs.UnknownVerb):
        build_event(actor=ACTOR, verb="thing.happened", target=("tests.thing", 1))
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_production_logs_an_unknown_verb_and_keeps_the_event(settings, caplog):
    settings.AUDIT_STRICT_VERBS = False
    with caplog.at_level(logging.WARNING, logger="reviewapp.core.verbs"):
        audit_record(actor=ACTOR, verb="queue.review_item.vanished", target=("tests.thing", 1))
    assert "not registered" in caplog.text
    assert AuditEvent.objects.get().verb == "queue.review_item.vanished"


@pytest.mark.django_db
def test_a_legacy_name_is_read_but_never_written():
    with pytest.raises(verbs.UnknownVerb, match="legacy name; write delivery.delivery.failed"):
        audit_record(actor=ACTOR, verb="delivery.failed", target=("tests.thing", 2))
    assert AuditEvent.objects.count() == 0
    assert verbs.canonical("delivery.failed") == "delivery.delivery.failed"


def test_every_verb_the_state_machines_write_is_registered():
    for machine in (REVIEW_ITEM, PREDICTION, DELIVERY, FAILURE_MODE, REVISION):
        for event, transition in machine.events.items():
            assert verbs.is_current(transition.verb), (event, transition.verb)


@pytest.fixture
def empty_registry(monkeypatch):
    monkeypatch.setattr(verbs, "_registry", verbs._Registry())


def test_registration_rules(empty_registry):
    verbs.register(
        prefix="a.", verbs={"a.thing.made": "Made"}, legacy={"thing.make": "a.thing.made"}
    )
    # Registering the same declaration twice is harmless.
    verbs.register(
        prefix="a.", verbs={"a.thing.made": "Made"}, legacy={"thing.make": "a.thing.made"}
    )
    assert verbs.verbs_for("a.thing.made") == ["a.thing.made", "thing.make"]
    with pytest.raises(ImproperlyConfigured, match="already declared"):
        verbs.register(
            prefix="b.", verbs={"b.thing.made": "Made"}, legacy={"thing.make": "b.thing.made"}
        )
    with pytest.raises(ImproperlyConfigured, match="must read"):
        verbs.register(prefix="b.", verbs={"a.thing.taken": "Taken"})
    with pytest.raises(ImproperlyConfigured, match="must read"):
        verbs.register(prefix="b.", verbs={"b.thing_taken": "Taken"})
    with pytest.raises(ImproperlyConfigured, match="not verbs of"):
        verbs.register(prefix="b.", verbs={}, legacy={"thing.take": "a.thing.made"})
