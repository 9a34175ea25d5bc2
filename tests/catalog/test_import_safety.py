"""POST /api/v1/catalog and load_catalog: the importer is the actor, drafts unless an admin
restores statuses through the workflow, the forms' validation and audit, all or nothing."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from catalog import services
from catalog.models import CaseStudy, Category, FailureMode, MitigationTemplate, PendingRevision
from catalog.transfer import catalog_export, catalog_import
from reviewapp.core.exceptions import PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent
from tests.factories import UserFactory

from .conftest import FULL

pytestmark = pytest.mark.django_db
URL = "/api/v1/catalog"


def _doc(**parts) -> dict:
    return {"format": "failsafe-catalog", "format_version": 1, **parts}


def _fm(slug: str, **fields) -> dict:
    return {**FULL, "title": slug.title(), "slug": slug, **fields}


def _post(client, doc, query: str = ""):
    return client.post(URL + query, doc, content_type="application/json")


def test_an_editor_cannot_publish_their_own_entry_by_import(client, editor, editor2, make_fm):
    fm = make_fm(editor, "Currency drift")
    services.failure_mode_transition(failure_mode=fm, user=editor, action="submit")
    doc = catalog_export()
    doc["failure_modes"][0].update(status="published", published_by="emil", created_by="emil")
    client.force_login(editor)
    response = _post(client, doc)
    assert response.status_code == 200, response.content
    fm.refresh_from_db()
    assert fm.status == "in_review" and fm.published_by is None and fm.created_by == editor
    assert any("status “published” not applied" in w for w in response.json()["warnings"])


def test_new_entries_are_drafts_by_the_importer_with_the_forms_audit_events(client, editor):
    doc = _doc(
        mitigations=[{"slug": "mon", "title": "Mon", "kind": "detector", "summary": "s",
                      "created_by": "someone-else"}],
        failure_modes=[_fm("forged", status="published", created_by="emil",
                           published_by="emil", published_at="2026-01-01T00:00:00+00:00",
                           mitigations=[{"mitigation": "mon", "effectiveness": "detects"}])],
        case_studies=[{"slug": "launch", "title": "Launch", "summary": "s",
                       "failure_modes": ["forged"], "created_by": "emil"}],
    )  # fmt: skip
    client.force_login(editor)
    assert _post(client, doc).status_code == 200
    fm = FailureMode.objects.get(slug="forged")
    assert (fm.status, fm.created_by, fm.published_by, fm.published_at) == (
        "draft",
        editor,
        None,
        None,
    )
    assert MitigationTemplate.objects.get().created_by == editor
    assert CaseStudy.objects.get().created_by == editor
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {
        "catalog.failure_mode.created",
        "catalog.mitigation.created",
        "catalog.failure_mode.mitigation_linked",
        "catalog.case_study.created",
        "catalog.occurrence.recorded",
        "catalog.bundle.imported",
    } <= verbs
    assert set(
        AuditEvent.objects.filter(verb="catalog.failure_mode.created").values_list(
            "actor_label", flat=True
        )
    ) == {"edith"}


def test_only_a_superuser_restores_statuses_and_still_through_the_rules(client, editor):
    client.force_login(editor)
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    doc = _doc(failure_modes=[_fm("x", status="published", owner="root", steward="root")])
    assert _post(client, doc, "?restore_status=1").status_code == 403
    client.force_login(admin)
    incomplete = _doc(
        failure_modes=[_fm("x", status="published", owner="root", steward="root", trigger_steps="")]
    )
    bad = _post(client, incomplete, "?restore_status=1")
    assert bad.status_code == 400
    assert "failure_modes[0].trigger_steps" in bad.json()["errors"]
    assert not FailureMode.objects.exists()
    assert _post(client, doc, "?restore_status=1").status_code == 200
    fm = FailureMode.objects.get()
    assert fm.status == "published" and fm.published_by == admin and fm.created_by == admin
    published = AuditEvent.objects.get(verb="catalog.failure_mode.published")
    assert published.data.get("restore") is True and published.actor_label == "root"


def test_unknown_keys_are_refused_by_name(client, editor):
    client.force_login(editor)
    top = _post(client, _doc(failure_modes=[], secrets=1))
    assert top.status_code == 400 and "secrets" in top.json()["errors"]
    row = _post(client, _doc(failure_modes=[_fm("a"), _fm("b", reviewed_by="emil")]))
    assert row.status_code == 400
    assert "failure_modes[1].reviewed_by" in row.json()["errors"]
    link = _post(
        client,
        _doc(failure_modes=[_fm("a", mitigations=[{"mitigation": "m", "weight": 3}])]),
    )
    assert "failure_modes[0].mitigations[0].weight" in link.json()["errors"]
    assert not FailureMode.objects.exists()


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (_doc(failure_modes=[_fm("a"), _fm("b"), _fm("c"), _fm("d", severity="S9")]),
         "failure_modes[3].severity"),
        (_doc(categories=[{"slug": "c", "name": "C", "position": 2**40}]), "categories[0].position"),
        (_doc(categories=[{"slug": "c", "name": "C", "position": -1}]), "categories[0].position"),
        (_doc(categories=[{"slug": "Bad Slug", "name": "C"}]), "categories[0].slug"),
        (_doc(mitigations=[{"slug": "m", "title": "M", "kind": "detector", "summary": "s",
                            "expected_ttr_minutes": 10**12}]), "mitigations[0].expected_ttr_minutes"),
        (_doc(failure_modes=[_fm("a", review_interval_days=10**9)]),
         "failure_modes[0].review_interval_days"),
        (_doc(failure_modes=[_fm("a", occurrences=[{"source_type": "incident", "source_id": "1",
                                                     "occurred_at": "yesterday"}])]),
         "failure_modes[0].occurrences[0].occurred_at"),
        (_doc(failure_modes=[_fm("a", occurrences=[{"source_type": "gossip", "source_id": "1",
              "occurred_at": "2026-01-01T00:00:00+00:00"}])]),
         "failure_modes[0].occurrences[0].source_type"),
        (_doc(failure_modes=[_fm("not a slug!")]), "failure_modes[0].slug"),
        (_doc(case_studies=[{"slug": "a b/c", "title": "T", "summary": "s"}]),
         "case_studies[0].slug"),
        (_doc(case_studies=[{"slug": "ok", "title": "T", "summary": "s", "metrics": "x"}]),
         "case_studies[0].metrics"),
    ],
)  # fmt: skip
def test_a_bad_row_is_a_400_naming_index_and_field_and_nothing_is_written(
    client, editor, doc, path
):
    good = _fm("good-one")
    doc = {**doc, "failure_modes": [good, *doc.get("failure_modes", [])]}
    # The good entry comes first: it must not be written either.
    client.force_login(editor)
    before = AuditEvent.objects.count()
    response = _post(client, doc)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    if path.startswith("failure_modes["):
        index = int(path.split("[")[1].split("]")[0]) + 1  # shifted by the good entry
        path = f"failure_modes[{index}]" + path.split("]", 1)[1]
    assert path in errors, errors
    assert not FailureMode.objects.exists() and not MitigationTemplate.objects.exists()
    assert not CaseStudy.objects.exists()
    assert not Category.objects.filter(slug__in=["c", "Bad Slug"]).exists()
    assert AuditEvent.objects.count() == before


def test_imported_case_study_slugs_keep_the_list_page_working(client, editor, engineer):
    client.force_login(editor)
    bad = _post(client, _doc(case_studies=[{"slug": "x/y", "title": "T", "summary": "s"}]))
    assert bad.status_code == 400
    ok = _post(client, _doc(case_studies=[{"slug": "ok", "title": "T", "summary": "s"}]))
    assert ok.status_code == 200
    client.force_login(engineer)
    assert client.get(reverse("catalog:case-studies")).status_code == 200


def test_importing_a_published_entry_proposes_a_revision(client, editor, editor2, make_fm):
    fm = make_fm(editor, "Currency drift", publish_by=editor2)
    doc = catalog_export()
    doc["failure_modes"][0]["summary"] = "Rewritten by import."
    client.force_login(editor)
    response = _post(client, doc)
    assert response.status_code == 200 and response.json()["proposed"] == {"failure_modes": 1}
    fm.refresh_from_db()
    assert fm.status == "published" and fm.summary == FULL["summary"]
    pending = PendingRevision.objects.get()
    assert pending.author == editor and pending.changes == {"summary": "Rewritten by import."}


def test_service_refuses_non_editors_and_non_admin_restore(engineer, editor):
    with pytest.raises(PermissionDenied):
        catalog_import(data=_doc(), user=engineer)
    with pytest.raises(PermissionDenied):
        catalog_import(data=_doc(), user=editor, restore_status=True)


def test_load_catalog_goes_through_the_same_path(tmp_path, engineer):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_doc(failure_modes=[_fm("a", severity="S0")])))
    with pytest.raises(CommandError, match=r"failure_modes\[0\]\.severity"):
        call_command("load_catalog", str(path))
    owned = {"status": "published", "owner": "sam", "steward": "sam"}
    path.write_text(json.dumps(_doc(failure_modes=[_fm("a", **owned)])))
    call_command("load_catalog", str(path))
    fm = FailureMode.objects.get()
    assert fm.status == "published" and fm.created_by is None
    assert AuditEvent.objects.filter(verb="catalog.failure_mode.published").exists()
    path.write_text(json.dumps(_doc(failure_modes=[_fm("b", **owned)])))
    call_command("load_catalog", str(path), "--drafts")
    assert FailureMode.objects.get(slug="b").status == "draft"


def test_form_paths_keep_slugs_reversible(editor):
    cs = services.case_study_create(user=editor, data={"title": "A/B test", "summary": "s",
                                                       "slug": "A b/../c"})  # fmt: skip
    assert services.is_slug(cs.slug)
    with pytest.raises(ServiceError):
        services.mitigation_create(
            user=editor, data={"title": "M", "kind": "detector", "summary": "s", "slug": "x" * 300}
        )


def test_admin_forms_refuse_slugs_that_cannot_be_reversed(rf):
    from django.contrib.admin.sites import site

    request = rf.get("/admin/")
    request.user = UserFactory(username="root", is_superuser=True, is_staff=True)
    for model in (CaseStudy, MitigationTemplate, Category):
        form_class = site._registry[model].get_form(request)
        form = form_class(data={"slug": "a/b c"})
        form.is_valid()
        assert "slug" in form.errors, model
