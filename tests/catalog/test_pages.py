from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from catalog import services
from catalog.models import FailureMode
from tests.factories import signed_in_queries

pytestmark = pytest.mark.django_db


def test_detail_page_summary_first_and_query_count(
    client, engineer, editor, editor2, make_fm, django_assert_num_queries
):
    fm = make_fm(editor, "Currency drift", publish_by=editor2)
    services.mitigation_create(
        user=editor, data={"title": "Drift monitor", "kind": "detector", "summary": "Per slice."}
    )
    services.failure_mode_link_mitigation(
        failure_mode=fm, mitigation_slug="drift-monitor", effectiveness="detects", user=editor
    )
    client.force_login(engineer)
    url = reverse("catalog:failure-mode", args=[fm.slug])
    # 11: the entry's pending revision (none here) is one more lookup; 12: the playbooks
    # app's "Playbooks for this (n)" counts the playbooks that handle it; 13: the top bar's
    # count of open incidents for an engineer (cached; cold in a test).
    with django_assert_num_queries(signed_in_queries(13)):
        response = client.get(url)
    body = response.content.decode()
    assert (
        body.index("A one-paragraph summary")
        < body.index("<h2>Mitigations</h2>")
        < body.index("<h2>Occurrences</h2>")
    )
    assert "Drift monitor" in body and "<svg" in body
    assert connection.vendor in ("sqlite", "postgresql")


def test_create_form_shows_field_errors_and_duplicate_hints(client, engineer, make_fm):
    make_fm(engineer, "Currency mix drift after a market launch")
    client.force_login(engineer)
    response = client.post(
        reverse("catalog:failure-mode-create"),
        {"title": "Currency mix drift after market launch", "summary": "", "category": "",
         "severity": "S2", "frequency": "unknown", "maturity": "potential", "review_interval_days": 91},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.content.decode()
    assert "This field is required." in body
    assert "Possible duplicates" in body
    assert FailureMode.objects.count() == 1
    partial = client.get(reverse("catalog:duplicates"), {"title": "currency mix drift"})
    assert "Currency mix drift after a market launch" in partial.content.decode()


def test_create_form_saves_a_draft(client, engineer):
    client.force_login(engineer)
    response = client.post(
        reverse("catalog:failure-mode-create"),
        {"title": "Label noise from chargeback lag", "summary": "Labels arrive late.",
         "category": "label-noise", "severity": "S3", "frequency": "frequent",
         "maturity": "demonstrated", "review_interval_days": 91,
         "tags_data_domain": "Payments, cards", "signal_keys": "low_confidence",
         "evidence_links": "Notebook | https://example.com/nb", "external_refs": "AIID 12"},
    )  # fmt: skip
    assert response.status_code == 302
    fm = FailureMode.objects.get(slug="label-noise-from-chargeback-lag")
    assert fm.status == "draft" and fm.owner.username == "sam"
    snap = services.failure_mode_snapshot(fm)
    assert snap["tags"]["data_domain"] == ["cards", "payments"]
    assert snap["evidence_links"] == [{"label": "Notebook", "url": "https://example.com/nb"}]
    assert snap["external_refs"] == [{"source": "AIID", "id": "12"}]


def test_other_pages_render(client, engineer, editor, editor2, make_fm):
    fm = make_fm(editor, publish_by=editor2)
    m = services.mitigation_create(
        user=editor,
        data={
            "title": "Rollback",
            "kind": "rollback",
            "summary": "Go back.",
            "procedure_steps": ["One", "Two"],
        },
    )
    cs = services.case_study_create(
        user=engineer,
        data={
            "title": "The launch",
            "summary": "It went wrong.",
            "failure_modes": [fm.slug],
            "mitigations": [m.slug],
            "occurred_on": "2026-10-01",
        },
    )
    client.force_login(engineer)
    for url in [
        reverse("catalog:mitigations"), reverse("catalog:mitigation", args=[m.slug]),
        reverse("catalog:case-studies"), reverse("catalog:case-study", args=[cs.slug]),
        reverse("catalog:stewardship"), reverse("catalog:failure-mode-history", args=[fm.slug]),
    ]:  # fmt: skip
        assert client.get(url).status_code == 200, url
    assert client.get(reverse("catalog:export")).status_code == 403  # engineers do not export
    fm.refresh_from_db()
    assert fm.occurrence_count == 1  # the case study is one occurrence


def test_action_copy_is_translated_when_shown_not_at_import():
    from django.utils.functional import Promise

    from catalog.views import ACTION_COPY

    assert all(isinstance(text, Promise) for pair in ACTION_COPY.values() for text in pair)
