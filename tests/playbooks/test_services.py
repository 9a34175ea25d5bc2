"""Playbook services: create, new versions (the old one unchanged), stale edits, status,
the catalog draft, the demo's playbooks; every write audited."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError, InternalError

from playbooks import demo, services
from playbooks.document import Known, validate
from playbooks.models import Playbook, PlaybookVersion
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent

from .conftest import valid_doc

pytestmark = pytest.mark.django_db


def events(verb):
    return list(AuditEvent.objects.filter(verb=verb).order_by("id"))


def test_create_makes_a_draft_with_version_1_and_audits_it(catalog, people):
    p = services.playbook_create(actor=people["engineer"], document=valid_doc(), note="first")
    p.refresh_from_db()
    assert (p.slug, p.status, p.version) == ("drift-runbook", "draft", 1)
    assert p.current.number == 1 and p.current.author == people["engineer"]
    assert p.current.document["steps"][2]["condition"] == "severity >= S2"
    assert set(p.current.index.values_list("kind", "value")) == {
        ("failure_mode", "currency-mix-drift"),
        ("monitor", "ood-rate"),
    }
    (event,) = events("playbooks.playbook.created")
    assert event.actor_id == str(people["engineer"].pk)
    assert event.after == {"version": 1, "sha256": p.current.sha256, "status": "draft"}


@pytest.mark.parametrize("role", ["reviewer", "committee", "catalog_editor", "nobody"])
def test_only_engineers_and_leads_write(catalog, people, role):
    with pytest.raises(PermissionDenied):
        services.playbook_create(actor=people[role], document=valid_doc())
    assert not Playbook.objects.exists()


def test_a_lead_writes_too(catalog, people):
    services.playbook_create(actor=people["lead"], document=valid_doc())
    assert Playbook.objects.count() == 1


def test_bad_input_names_fields_and_writes_nothing(catalog, people):
    doc = valid_doc(failure_modes=["nope"])
    doc["steps"][1]["branches"][0]["target"] = "missing"
    with pytest.raises(ServiceError) as exc:
        services.playbook_create(actor=people["engineer"], document=doc)
    assert exc.value.status == 400
    assert set(exc.value.errors) == {"failure_modes[0]", "steps[1].branches[0].target"}
    assert not Playbook.objects.exists() and not PlaybookVersion.objects.exists()
    assert not AuditEvent.objects.filter(verb__startswith="playbooks.").exists()


def test_an_edit_makes_a_new_version_and_leaves_the_old_one_unchanged(catalog, people):
    p = services.playbook_create(actor=people["engineer"], document=valid_doc())
    v1 = PlaybookVersion.objects.get(playbook=p, number=1)
    before = (v1.document, v1.sha256, v1.title)
    doc = valid_doc(title="Drift runbook (revised)")
    doc["steps"][0]["instructions"] = "Acknowledge within 5 minutes."
    v2 = services.playbook_revise(
        playbook=p, actor=people["lead"], document=doc, base_version=1, note="tighter"
    )
    p.refresh_from_db()
    assert (p.version, p.current_id, v2.number) == (2, v2.pk, 2)
    v1.refresh_from_db()
    assert (v1.document, v1.sha256, v1.title) == before
    assert v2.document["steps"][0]["instructions"] == "Acknowledge within 5 minutes."
    (event,) = events("playbooks.playbook.revised")
    assert event.before == {"version": 1, "sha256": before[1]}
    assert event.after == {"version": 2, "sha256": v2.sha256}
    assert event.data["note"] == "tighter"


def test_an_edit_from_an_old_version_is_a_409_and_changes_nothing(catalog, people):
    p = services.playbook_create(actor=people["engineer"], document=valid_doc())
    services.playbook_revise(
        playbook=p, actor=people["engineer"], document=valid_doc(title="B"), base_version=1
    )
    stale = Playbook.objects.get(pk=p.pk)
    with pytest.raises(Conflict) as exc:
        services.playbook_revise(
            playbook=stale, actor=people["lead"], document=valid_doc(title="C"), base_version=1
        )
    assert exc.value.errors.keys() == {"base_version"}
    assert PlaybookVersion.objects.filter(playbook=p).count() == 2


def test_a_concurrent_save_loses_cleanly(catalog, people):
    """Two editors read version 1; the second's conditional UPDATE finds the row moved."""
    p = services.playbook_create(actor=people["engineer"], document=valid_doc())
    first, second = Playbook.objects.get(pk=p.pk), Playbook.objects.get(pk=p.pk)
    services.playbook_revise(
        playbook=first, actor=people["engineer"], document=valid_doc(title="B"), base_version=1
    )
    with pytest.raises(Conflict), transaction.atomic():
        # `second` still believes version 1 is current (as a concurrent request would).
        services.playbook_revise(
            playbook=second, actor=people["lead"], document=valid_doc(title="C"), base_version=1
        )
    assert list(PlaybookVersion.objects.filter(playbook=p).values_list("title", flat=True)) == [
        "B",
        "Drift runbook",
    ]


def test_saving_the_same_document_makes_no_version(catalog, people):
    p = services.playbook_create(actor=people["engineer"], document=valid_doc())
    with pytest.raises(ServiceError, match="Nothing changed"):
        services.playbook_revise(
            playbook=p, actor=people["engineer"], document=valid_doc(), base_version=1
        )


def test_publish_retire_reinstate_through_the_state_machine(catalog, people):
    p = services.playbook_create(actor=people["engineer"], document=valid_doc())
    with pytest.raises(PermissionDenied):
        services.playbook_transition(playbook=p, actor=people["reviewer"], event="publish")
    with pytest.raises(Conflict):
        services.playbook_transition(playbook=p, actor=people["lead"], event="retire")
    services.playbook_transition(playbook=p, actor=people["lead"], event="publish")
    services.playbook_transition(playbook=p, actor=people["lead"], event="retire")
    services.playbook_transition(playbook=p, actor=people["lead"], event="reinstate")
    p.refresh_from_db()
    assert p.status == "active"
    verbs = list(
        AuditEvent.objects.filter(verb__startswith="playbooks.").values_list("verb", flat=True)
    )
    assert verbs == [
        "playbooks.playbook.created",
        "playbooks.playbook.published",
        "playbooks.playbook.retired",
        "playbooks.playbook.reinstated",
    ]


def test_a_status_change_from_an_old_version_is_refused(catalog, people):
    p = services.playbook_create(actor=people["engineer"], document=valid_doc())
    services.playbook_revise(
        playbook=p, actor=people["engineer"], document=valid_doc(title="B"), base_version=1
    )
    with pytest.raises(Conflict):
        services.playbook_transition(
            playbook=p, actor=people["lead"], event="publish", base_version=1
        )


def test_draft_from_a_failure_mode_uses_its_mitigation_templates(catalog, people):
    p = services.playbook_draft_from_catalog(
        actor=people["engineer"], failure_mode_slug="currency-mix-drift"
    )
    doc = p.current.document
    assert p.status == "draft" and p.current.source == {"failure_mode": "currency-mix-drift"}
    assert doc["failure_modes"] == ["currency-mix-drift"]
    assert doc["owner"] == "sam"
    phases = [s["phase"] for s in doc["steps"]]
    assert phases[0] == "triage" and phases[-2:] == ["verification", "communication"]
    # each linked template's procedure becomes steps (drift-monitor-per-slice is a detector:
    # evidence), between the triage and verification steps every draft has
    assert "evidence" in phases and len(doc["steps"]) > 2
    assert any(s["key"].startswith("drift-monitor-per-slice") for s in doc["steps"])
    (event,) = events("playbooks.playbook.drafted")
    assert event.data["source"] == {"failure_mode": "currency-mix-drift"}


def test_draft_from_a_mitigation_links_the_modes_it_addresses(catalog, people):
    p = services.playbook_draft_from_catalog(
        actor=people["lead"], mitigation_slug="safe-fallback-hold"
    )
    doc = p.current.document
    assert set(doc["failure_modes"]) >= {"inference-latency-timeouts"}
    assert any(s["phase"] == "containment" for s in doc["steps"])


def test_draft_from_an_unknown_entry_or_by_a_reader(catalog, people):
    with pytest.raises(NotFound):
        services.playbook_draft_from_catalog(actor=people["engineer"], failure_mode_slug="nope")
    with pytest.raises(PermissionDenied):
        services.playbook_draft_from_catalog(
            actor=people["reviewer"], failure_mode_slug="currency-mix-drift"
        )
    assert not Playbook.objects.exists()


def test_the_demo_playbooks_are_complete_and_valid(catalog, people):
    assert demo.seed_playbooks() == 5
    assert demo.seed_playbooks() == 0  # idempotent
    playbooks = list(Playbook.objects.select_related("current"))
    assert {p.status for p in playbooks} == {"active"}
    known = services.known_for({"owner": "sam"})
    for p in playbooks:
        doc = p.current.document
        _clean, errors = validate(doc, known)
        assert not errors, (p.slug, errors)
        phases = {s["phase"] for s in doc["steps"]}
        assert phases == {
            "triage", "evidence", "containment", "remediation", "verification", "communication"
        }, p.slug  # fmt: skip
        assert any(s["kind"] == "decision" for s in doc["steps"]), p.slug
        assert doc["failure_modes"] and doc["triggers"], p.slug
    titles = {p.current.title for p in playbooks}
    assert any("drift" in t.lower() for t in titles)
    assert any("schema" in t.lower() for t in titles)
    assert any("calibration" in t.lower() for t in titles)
    assert any("latency" in t.lower() for t in titles)
    assert any("label" in t.lower() for t in titles)


def test_known_monitors_include_those_of_monitor_documents(catalog, people):
    from playbooks.selectors import known_monitors
    from reviewapp.governance.models import DocumentKind, DocumentVersion

    assert "data-anomalies" in known_monitors()
    assert "chargeback-rate" not in known_monitors()
    DocumentVersion.objects.create(
        kind=DocumentKind.MONITORS,
        model_slug="card-fraud",
        version=1,
        document={"monitors": [{"name": "chargeback-rate"}]},
    )
    assert "chargeback-rate" in known_monitors()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL trigger")
def test_postgresql_refuses_to_change_a_version(catalog, people):
    p = services.playbook_create(actor=people["engineer"], document=valid_doc())
    with pytest.raises((InternalError, DatabaseError)), transaction.atomic():
        PlaybookVersion.objects.filter(pk=p.current_id).update(title="rewritten")
    assert PlaybookVersion.objects.get(pk=p.current_id).title == "Drift runbook"


def test_known_for_accepts_only_engineer_or_lead_owners(catalog, people):
    assert services.known_for({"owner": "sam"}).owners == {"sam"}
    assert services.known_for({"owner": "ana"}).owners == set()
    assert isinstance(services.known_for({}), Known)


def test_seed_playbooks_command_says_what_is_missing(catalog, people):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="owner"):
        call_command("seed_playbooks", owner="ana")  # a reviewer cannot own one
    assert not Playbook.objects.exists()
    call_command("seed_playbooks")
    assert Playbook.objects.filter(status="active").count() == 5
