"""The demo's gold set (reviewapp/quality/demo.py)."""

from __future__ import annotations

import pytest

from reviewapp.quality.demo import seed_gold
from reviewapp.quality.models import GoldItem
from tests.factories import UserFactory
from tests.reviewapp.test_queue_fixtures import pooled_reviewer

from .gold_helpers import decided_items

pytestmark = pytest.mark.django_db
__all__ = ["pooled_reviewer"]


def test_seed_gold_marks_twelve_with_four_adversarial_once(fraud_model, pooled_reviewer):
    UserFactory(username="lee", roles=["lead"])
    decided_items(fraud_model, pooled_reviewer, 16, override=5)
    assert seed_gold() == 12
    assert GoldItem.objects.count() == 12
    assert GoldItem.objects.filter(adversarial=True).count() == 4
    assert {g.marked_by.username for g in GoldItem.objects.all()} == {"lee"}
    assert seed_gold() == 0  # a re-run keeps the set
