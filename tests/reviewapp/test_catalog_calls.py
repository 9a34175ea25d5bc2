"""The queue calls the catalog's typed functions directly: tags are checked against it and
recorded in it, the review page shows its matches, and a renamed function fails loudly."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from catalog.models import FailureMode
from reviewapp.core.exceptions import ServiceError
from reviewapp.selectors.context import matching_failure_modes
from reviewapp.services.claims import review_item_claim_next
from tests.factories import UserFactory

from . import test_queue_fixtures as fx

make_items = fx.make_items
pooled_reviewer = fx.pooled_reviewer
pytestmark = pytest.mark.django_db

FULL = {
    "summary": "A one-paragraph summary of what goes wrong.",
    "category": "data-drift",
    "cause": "The cause.",
    "effect": "The effect.",
    "detection_signals": "Watch the monitor.",
    "trigger_steps": "1. Do this.",
    "business_impact": "Money is lost.",
    "severity": "S2",
}


@pytest.fixture
def published_fm(db) -> FailureMode:
    author = UserFactory(username="edith", roles=["catalog_editor"])
    publisher = UserFactory(username="emil", roles=["catalog_editor"])
    fm = catalog_services.failure_mode_create(
        user=author,
        data={
            **FULL,
            "title": "Currency drift",
            "owner": "edith",
            "steward": "edith",
            "signal_keys": ["fraud"],
        },
    )
    fm = catalog_services.failure_mode_transition(failure_mode=fm, user=author, action="submit")
    return catalog_services.failure_mode_transition(
        failure_mode=fm, user=publisher, action="publish"
    )


def test_a_tag_is_checked_against_the_catalog_and_recorded_in_it(
    pooled_reviewer, fraud_model, published_fm
):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    with pytest.raises(ServiceError) as exc:
        fx.decide(item, pooled_reviewer, "accept", failure_mode_tags=["currency-drfit"])
    assert exc.value.errors["failure_mode_tags"] == [
        "'currency-drfit' is not a failure mode in the catalog."
    ]
    decision = fx.decide(item, pooled_reviewer, "accept", failure_mode_tags=[published_fm.slug])
    published_fm.refresh_from_db()
    assert published_fm.occurrence_count == 1
    assert list(published_fm.occurrences.values_list("source_type", "source_id")) == [
        ("review_decision", str(decision.pk))
    ]


def test_the_review_page_links_the_matching_failure_modes(
    client, pooled_reviewer, fraud_model, published_fm
):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    assert matching_failure_modes(item) == [published_fm]
    client.force_login(pooled_reviewer)
    page = client.get(reverse("queue:review", args=[item.pk])).content.decode()
    assert f'<a href="{published_fm.get_absolute_url()}">Currency drift</a>' in page
    # The tag picker offers the matching entries first, in their own group.
    assert (
        f'<optgroup label="Matching this item"><option value="{published_fm.slug}" '
        'data-severity="S2">Currency drift</option></optgroup>'
    ) in page


def test_a_renamed_catalog_function_fails_loudly(monkeypatch, pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    monkeypatch.delattr(catalog_selectors, "failure_modes_matching")
    with pytest.raises(AttributeError):
        matching_failure_modes(item)
    monkeypatch.delattr(catalog_selectors, "failure_mode_choices")
    with pytest.raises(AttributeError):
        fx.decide(item, pooled_reviewer, "accept", failure_mode_tags=["anything"])


def test_a_refused_decision_keeps_the_tags_picked(
    client, pooled_reviewer, fraud_model, published_fm
):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    client.force_login(pooled_reviewer)
    response = client.post(
        reverse("queue:decide", args=[item.pk]),
        {
            "action": "override",
            "generation": item.claim_generation,
            "failure_mode_tags": [published_fm.slug],
        },
    )
    assert response.status_code == 400  # no label, no reason
    assert (
        f'<option value="{published_fm.slug}" data-severity="S2" selected>'
        in response.content.decode()
    )
