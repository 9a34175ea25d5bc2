"""Root-cause hypotheses: add, edit with a version, confirm and refute (issue 16)."""

from __future__ import annotations

import pytest

from playbooks.incidents import rca, services
from playbooks.models import Hypothesis
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent, AuditSubject
from tests.factories import MLModelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(people):
    model = MLModelFactory(slug="card-fraud")
    return services.incident_open(
        actor=people["engineer"], title="Drift", severity="S2", model_slugs=[model.slug]
    )


def test_the_workflow_add_edit_confirm_refute(incident, people):
    sam, lee = people["engineer"], people["lead"]
    h = rca.hypothesis_add(incident=incident, actor=sam, statement=" The EUR share doubled ",
                           test="Compare the currency mix", confidence=40)  # fmt: skip
    assert (h.statement, h.status, h.version, h.created_by) == (
        "The EUR share doubled", "open", 1, sam,
    )  # fmt: skip
    h = rca.hypothesis_edit(incident=incident, actor=lee, hypothesis_id=h.pk, base_version=1,
                            evidence="Mix 30% → 61% on 11-19", confidence=80)  # fmt: skip
    assert (h.version, h.confidence) == (2, 80)
    h = rca.hypothesis_decide(incident=incident, actor=lee, hypothesis_id=h.pk, base_version=2,
                              status="confirmed")  # fmt: skip
    h.refresh_from_db()
    assert (h.status, h.decided_by, h.version) == ("confirmed", lee, 3)
    assert h.decided_at is not None
    verbs = list(
        AuditEvent.objects.filter(verb__startswith="playbooks.hypothesis")
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs == ["playbooks.hypothesis.added", "playbooks.hypothesis.edited",
                     "playbooks.hypothesis.confirmed"]  # fmt: skip
    # Every event is on the incident's timeline (its subject index).
    assert AuditSubject.objects.filter(
        target_type="playbooks.incident", target_id=str(incident.pk),
        event__verb__startswith="playbooks.hypothesis",
    ).count() == 3  # fmt: skip


def test_refuting_needs_a_result(incident, people):
    lee = people["lead"]
    h = rca.hypothesis_add(incident=incident, actor=lee, statement="A retrain went bad")
    with pytest.raises(ServiceError) as exc:
        rca.hypothesis_decide(incident=incident, actor=lee, hypothesis_id=h.pk, base_version=1,
                              status="refuted")  # fmt: skip
    assert "result" in exc.value.errors
    h.refresh_from_db()
    assert (h.status, h.version) == ("open", 1)
    h = rca.hypothesis_decide(incident=incident, actor=lee, hypothesis_id=h.pk, base_version=1,
                              status="refuted", result="No retrain since October.")  # fmt: skip
    assert (h.status, h.result) == ("refuted", "No retrain since October.")
    # Reopened: the decision is cleared.
    h = rca.hypothesis_decide(incident=incident, actor=lee, hypothesis_id=h.pk,
                              base_version=h.version, status="open")  # fmt: skip
    assert (h.status, h.decided_by, h.decided_at) == ("open", None, None)


def test_a_stale_version_is_409_and_changes_nothing(incident, people):
    lee = people["lead"]
    h = rca.hypothesis_add(incident=incident, actor=lee, statement="Upstream outage")
    rca.hypothesis_edit(incident=incident, actor=lee, hypothesis_id=h.pk, base_version=1,
                        confidence=70)  # fmt: skip
    with pytest.raises(Conflict) as exc:
        rca.hypothesis_edit(incident=incident, actor=lee, hypothesis_id=h.pk, base_version=1,
                            confidence=10)  # fmt: skip
    assert exc.value.status == 409 and "version" in exc.value.errors
    with pytest.raises(Conflict):
        rca.hypothesis_decide(incident=incident, actor=lee, hypothesis_id=h.pk, base_version=1,
                              status="confirmed")  # fmt: skip
    h.refresh_from_db()
    assert (h.confidence, h.status, h.version) == (70, "open", 2)


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"statement": ""}, "statement"), ({"statement": "x", "confidence": 101}, "confidence"),
     ({"statement": "x", "confidence": "50"}, "confidence"), ({"statement": 5}, "statement"),
     ({"statement": "x", "status": "confirmed"}, "status"), ({}, "statement"),
     ({"statement": "x\x00"}, "statement")],
)  # fmt: skip
def test_bad_input_names_the_field(incident, people, fields, field):
    with pytest.raises(ServiceError) as exc:
        rca.hypothesis_add(incident=incident, actor=people["lead"], **fields)
    assert field in exc.value.errors
    assert not Hypothesis.objects.exists()


def test_another_incidents_hypothesis_is_not_found(incident, people):
    other = services.incident_open(actor=people["lead"], title="Other", severity="S3",
                                   model_slugs=["card-fraud"])  # fmt: skip
    h = rca.hypothesis_add(incident=other, actor=people["lead"], statement="Elsewhere")
    with pytest.raises(NotFound):
        rca.hypothesis_edit(incident=incident, actor=people["lead"], hypothesis_id=h.pk,
                            base_version=1, confidence=1)  # fmt: skip


@pytest.mark.parametrize("who", ["reviewer", "committee", "catalog_editor"])
def test_only_runners_write_hypotheses(incident, people, who):
    with pytest.raises(PermissionDenied):
        rca.hypothesis_add(incident=incident, actor=people[who], statement="I think")
