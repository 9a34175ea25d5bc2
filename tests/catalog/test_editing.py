"""Editing in the browser: an untouched field is not a change (line endings), the diff marks
the words that changed, and publishing names the missing fields by label before offering."""

from __future__ import annotations

import pytest
from django import forms
from django.test import Client

from catalog import selectors, services
from catalog.forms import FailureModeForm
from catalog.models import FailureMode, Revision

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _as_browser_posts(fm: FailureMode) -> dict[str, str]:
    """The edit form sent back untouched, as a browser sends it: every textarea's lines
    joined with CR LF (the HTML standard)."""
    initial = FailureModeForm.initial_from(services.failure_mode_snapshot(fm), fm.version)
    form = FailureModeForm(initial=initial)
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or isinstance(value, dict | list):
            continue
        value = str(value)
        if isinstance(field.widget, forms.Textarea):
            value = value.replace("\n", "\r\n")
        data[name] = value
    return data


def test_saving_an_untouched_entry_changes_nothing_in_the_diff(engineer, make_fm):
    fm = make_fm(
        engineer, cause="Rates are cached.\nThe cache is not refreshed.", trigger_steps="1. a\n2. b"
    )
    data = _as_browser_posts(fm)
    assert "\r\n" in data["cause"]
    response = _client(engineer).post(f"/catalog/f/{fm.slug}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    fm.refresh_from_db()
    assert fm.cause == "Rates are cached.\nThe cache is not refreshed."
    r1, r2 = Revision.objects.filter(object_id=fm.pk).order_by("number")
    assert selectors.revision_diff(r1.snapshot, r2.snapshot) == []
    page = _client(engineer).get(f"/catalog/f/{fm.slug}/history/{r2.number}/")
    assert "No content changed" in page.content.decode()


def test_an_old_crlf_value_is_not_a_change_in_the_diff():
    older = {"cause": "one\r\ntwo"}
    assert selectors.revision_diff(older, {"cause": "one\ntwo"}) == []


def test_the_diff_marks_the_words_that_changed_within_a_line():
    (diff,) = selectors.revision_diff(
        {"effect": "Approvals drop by 3% in NL.\nSame line."},
        {"effect": "Approvals drop by 7% in NL and BE.\nSame line."},
    )
    html = str(diff.html)
    assert (
        '<span class="diff-del">− Approvals drop by <del>3%</del> in <del>NL.</del></span>' in html
    )
    assert (
        '<span class="diff-ins">+ Approvals drop by <ins>7%</ins> in <ins>NL and BE.</ins></span>'
        in html
    )
    assert '<span class="diff-same">  Same line.</span>' in html
    (added,) = selectors.revision_diff({"kpis": []}, {"kpis": ["<approval rate>"]})
    assert '<ins class="diff-ins">+ &lt;approval rate&gt;</ins>' in str(added.html)


def test_publish_names_missing_fields_by_label_before_offering(engineer, editor, make_fm):
    fm = make_fm(engineer, trigger_steps="", business_impact="")
    fm = services.failure_mode_transition(failure_mode=fm, user=engineer, action="submit")
    page = _client(editor).get(f"/catalog/f/{fm.slug}/publish/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Fill in these 2 fields before you publish the entry:" in body
    assert "Trigger steps" in body and "Business impact" in body
    assert f'href="/catalog/f/{fm.slug}/edit/#id_trigger_steps"' in body
    assert "Yes, publish" not in body
    # A post anyway (an old page) is refused naming the fields by their labels.
    refused = _client(editor).post(f"/catalog/f/{fm.slug}/publish/", {"note": ""})
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "Trigger steps" in text and "<code>trigger_steps</code>" not in text
    assert "trigger_steps:" not in text
    fm.refresh_from_db()
    assert fm.status == "in_review"


def test_publish_offers_the_button_when_nothing_is_missing(engineer, editor, make_fm):
    fm = make_fm(engineer)
    services.failure_mode_transition(failure_mode=fm, user=engineer, action="submit")
    body = _client(editor).get(f"/catalog/f/{fm.slug}/publish/").content.decode()
    assert "Yes, publish" in body and "Fill in" not in body
