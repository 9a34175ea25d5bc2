"""The review-quality settings through governance: the propose form labels and explains each
setting, the diff reads in words, proposing → quorum → applied changes what the quality app
reads, and the model page lists the active version."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviewapp.core.exceptions import ServiceError
from reviewapp.governance import describe, services
from reviewapp.governance.models import ChangeRequest, DocumentKind, DocumentVersion
from reviewapp.governance.review_quality import DEFAULTS, HELP, LABELS
from reviewapp.quality.settings import quality_settings
from tests.factories import UserFactory
from tests.governance.cr_helpers import approve, submitted

pytestmark = pytest.mark.django_db
KIND = DocumentKind.REVIEW_QUALITY
PROPOSED = {**DEFAULTS, "gold_rate": 0.05, "second_review_rate": 0.1, "risky_labels": ["fraud"]}


@pytest.fixture
def committee(db):
    return [UserFactory(username=n, roles=["committee"]) for n in ("cora", "cole", "cleo")]


@pytest.fixture
def proposer(db):
    return UserFactory(username="sam", roles=["engineer"])


def test_every_setting_has_a_label_and_help():
    assert set(LABELS) == set(DEFAULTS) == set(HELP)
    assert describe.path_label("gold_rate") == "Gold rate"


def test_proposed_voted_applied_and_read_by_the_quality_app(fraud_model, proposer, committee):
    assert quality_settings("card-fraud")["gold_rate"] == DEFAULTS["gold_rate"]
    with pytest.raises(ServiceError) as caught:
        services.change_request_create(
            model_slug="card-fraud", kind=KIND, user=proposer, rationale="x",
            document={**PROPOSED, "risky_labels": ["cat"]},
        )  # fmt: skip
    assert any(key.endswith("risky_labels") for key in caught.value.errors)

    cr, digest = submitted(fraud_model, proposer, PROPOSED, kind=KIND)
    assert approve(cr, committee[0], digest).status != ChangeRequest.Status.APPLIED
    cr = approve(cr, committee[1], digest)
    assert cr.status == ChangeRequest.Status.APPLIED
    version = DocumentVersion.objects.get(model_slug="card-fraud", kind=KIND, is_active=True)
    assert version.document == PROPOSED
    settings = quality_settings("card-fraud")
    assert (settings["gold_rate"], settings["risky_labels"]) == (0.05, ["fraud"])


def test_the_diff_names_settings_in_words():
    rows = describe.diff(DEFAULTS, PROPOSED)
    changed = {r.path: r for r in rows if r.change == "changed"}
    assert set(changed) == {"gold_rate", "second_review_rate", "risky_labels"}
    assert changed["second_review_rate"].label == "Blind second-review rate"
    assert (changed["gold_rate"].a, changed["gold_rate"].b) != ("—", "—")


def test_the_propose_page_labels_and_explains_each_setting(client, fraud_model, proposer):
    # Engineers and leads propose; the committee votes (governance's roles, unchanged).
    client.force_login(proposer)
    response = client.get(f"{reverse('governance:propose')}?model=card-fraud&kind={KIND}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Review-quality settings" in page and "Routing policy" not in page.split("<form")[0]
    rows = {r.path: r for r in response.context["rows"]}
    assert set(rows) == set(DEFAULTS)
    assert rows["gold_rate"].label == "Gold rate" and "gold items" in rows["gold_rate"].help
    assert rows["guideline_ack_required"].field.value() == "true"
    for key in DEFAULTS:
        assert str(LABELS[key]) in page
    # The other kinds' rows are unchanged (no words added to them).
    policy = client.get(f"{reverse('governance:propose')}?model=card-fraud&kind=routing_policy")
    assert all(r.label == "" for r in policy.context["rows"])


def test_the_propose_form_posts_a_review_quality_request(client, fraud_model, proposer):
    client.force_login(proposer)
    url = f"{reverse('governance:propose')}?model=card-fraud&kind={KIND}"
    form = client.get(url).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data.update({"rule:gold_rate": "0.04", "rationale": "Start measuring reviewers."})
    data = {k: v for k, v in data.items() if v is not None}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    cr = ChangeRequest.objects.get(kind=KIND)
    assert cr.document["gold_rate"] == 0.04 and cr.model_slug == "card-fraud"


def test_the_model_page_lists_the_active_version(client, fraud_model, proposer, committee, lead):
    client.force_login(lead)
    url = reverse("governance:model-policy", args=["card-fraud"])
    page = client.get(url).content.decode()
    assert 'id="review-quality"' in page and "No review-quality version yet" in page
    cr, digest = submitted(fraud_model, proposer, {"gold_rate": 0.05}, kind=KIND)
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    page = client.get(url).content.decode()
    assert "No review-quality version yet" not in page
    section = page.split('id="h-review-quality"')[1].split("</section>")[0]
    assert "Version v1" in section and f"#{cr.pk}" in section
    assert "Gold rate</dt><dd>5" in section or "Gold rate</dt><dd>0.05" in section
    assert "(default)" in section  # the settings the version leaves out


def test_the_kind_is_in_the_pick_list_and_the_history(client, fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer, {"gold_rate": 0.05}, kind=KIND)
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    client.force_login(proposer)
    pick = client.get(reverse("governance:propose")).content.decode()
    assert f'value="{KIND}"' in pick
    history = client.get(reverse("governance:policy-history", args=["card-fraud"]))
    assert history.status_code == 200 and "Review-quality settings" in history.content.decode()
