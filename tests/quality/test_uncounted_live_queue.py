"""Gold and qualification items are never counted in the dashboards' live queue figures, from
the count snapshot or counted directly (DESIGN: they test reviewers, not the model)."""

from __future__ import annotations

import pytest

from reviewapp.dashboards.selectors import live_queue
from reviewapp.models import Purpose, ReviewItem
from reviewapp.services.sweeps import queue_counts_refresh
from tests.reviewapp import test_queue_fixtures as fx

pooled_reviewer = fx.pooled_reviewer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("snapshot", [False, True])
def test_served_gold_is_not_in_the_live_queue(fraud_model, pooled_reviewer, snapshot):
    live, gold = fx.make_items(fraud_model, 2)
    ReviewItem.objects.filter(pk=gold.pk).update(purpose=Purpose.GOLD, for_reviewer=pooled_reviewer)
    if snapshot:
        queue_counts_refresh()
    figures = live_queue(model_ids=[fraud_model.pk])[fraud_model.pk]
    assert figures.open == 1 and figures.pending == 1
    ReviewItem.objects.filter(pk=gold.pk).update(purpose=Purpose.SHIFT_SAMPLE, for_reviewer=None)
    if snapshot:
        queue_counts_refresh()
    assert live_queue(model_ids=[fraud_model.pk])[fraud_model.pk].open == 2
