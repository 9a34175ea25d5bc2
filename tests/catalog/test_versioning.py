"""Every edit is a revision with author and time; diff shows changes; restore adds a version."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog import selectors, services
from catalog.models import FailureMode, Revision
from reviewapp.core.exceptions import Conflict, ServiceError

pytestmark = pytest.mark.django_db


def test_each_edit_is_a_revision_with_author(engineer, editor, make_fm):
    fm = make_fm(engineer, cause="Original cause.")
    services.failure_mode_update(failure_mode=fm, user=editor, data={"cause": "Second cause."})
    revs = list(Revision.objects.filter(kind="failure_mode", object_id=fm.pk).order_by("number"))
    assert [r.number for r in revs] == [1, 2]
    assert [r.author for r in revs] == [engineer, editor]
    assert revs[0].snapshot["cause"] == "Original cause."
    assert revs[1].snapshot["cause"] == "Second cause."


def test_diff_shows_only_changed_fields_escaped(engineer, make_fm):
    fm = make_fm(engineer, cause="line one\nline two")
    services.failure_mode_update(
        failure_mode=fm, user=engineer, data={"cause": "line one\nline <b>2</b>"}
    )
    r1, r2 = Revision.objects.filter(object_id=fm.pk).order_by("number")
    diffs = selectors.revision_diff(r1.snapshot, r2.snapshot)
    assert [d.field for d in diffs] == ["cause"]
    html = str(diffs[0].html)
    # The line changed in place: its old and new versions, the changed word marked in each.
    assert '<span class="diff-del">− line <del>two</del></span>' in html
    assert '<span class="diff-ins">+ line <ins>&lt;b&gt;2&lt;/b&gt;</ins></span>' in html
    assert '<span class="diff-same">  line one</span>' in html


def test_restore_copies_old_content_as_new_version(engineer, make_fm):
    fm = make_fm(engineer, cause="Original.", kpis=["approval rate"])
    services.failure_mode_update(
        failure_mode=fm, user=engineer, data={"cause": "Changed.", "kpis": []}
    )
    fm = services.failure_mode_restore(failure_mode=fm, user=engineer, number=1)
    fm.refresh_from_db()
    assert fm.cause == "Original." and fm.kpis == ["approval rate"]
    assert fm.version == 3
    assert Revision.objects.filter(object_id=fm.pk).count() == 3


def test_stale_edit_is_refused_and_writes_nothing(engineer, make_fm):
    fm = make_fm(engineer)
    services.failure_mode_update(
        failure_mode=fm, user=engineer, data={"cause": "A"}, base_version=1
    )
    with pytest.raises(Conflict) as exc:
        services.failure_mode_update(
            failure_mode=fm, user=engineer, data={"cause": "B"}, base_version=1
        )
    assert "base_version" in exc.value.errors
    assert FailureMode.objects.get(pk=fm.pk).cause == "A"


def test_invalid_edit_names_the_field_and_writes_nothing(engineer, make_fm):
    fm = make_fm(engineer)
    with pytest.raises(ServiceError) as exc:
        services.failure_mode_update(
            failure_mode=fm,
            user=engineer,
            data={
                "severity": "S9",
                "evidence_links": [{"url": "javascript:alert(1)"}],
                "cause": "new",
            },
        )
    assert set(exc.value.errors) == {"severity", "evidence_links[0]"}
    fm.refresh_from_db()
    assert fm.version == 1 and fm.cause == "The cause."


def test_diff_and_restore_pages(client, engineer, make_fm):
    fm = make_fm(engineer, cause="Original.")
    services.failure_mode_update(failure_mode=fm, user=engineer, data={"cause": "Changed."})
    client.force_login(engineer)
    page = client.get(reverse("catalog:failure-mode-diff", args=[fm.slug, 2]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "− Original." in body and "+ Changed." in body
    confirm = client.get(reverse("catalog:failure-mode-restore", args=[fm.slug, 1]))
    assert confirm.status_code == 200 and "Restore version 1" in confirm.content.decode()
    assert (
        client.post(reverse("catalog:failure-mode-restore", args=[fm.slug, 1])).status_code == 302
    )
    assert FailureMode.objects.get(pk=fm.pk).cause == "Original."
    assert client.get(reverse("catalog:failure-mode-diff", args=[fm.slug, 99])).status_code == 404


def test_edit_form_shows_field_errors(client, engineer, make_fm):
    fm = make_fm(engineer)
    client.force_login(engineer)
    url = reverse("catalog:failure-mode-edit", args=[fm.slug])
    data = {
        "title": "Currency drift", "summary": "S", "category": "data-drift", "severity": "S2",
        "frequency": "unknown", "maturity": "potential", "review_interval_days": 91,
        "owner": "no-such-user", "evidence_links": "Dashboard | ftp://example.com/x",
        "base_version": 1,
    }  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "No user named “no-such-user”." in body
    assert "Link must be an http(s) address" in body
    assert FailureMode.objects.get(pk=fm.pk).version == 1
