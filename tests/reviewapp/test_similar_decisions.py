"""The review page's "similar decisions": the nearest confidences on either side, newest first
among decisions that share a confidence, read from an index that stops after a few rows."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from reviewapp.selectors.context import similar_decisions
from reviewapp.services.claims import review_item_claim_next

from . import test_queue_fixtures as fx

pooled_reviewer = fx.pooled_reviewer
pytestmark = pytest.mark.django_db


def decided(model, user, confidences: list[float]) -> list[int]:
    """One decided item per confidence, in that order; the decisions' ids."""
    ids = []
    for i, confidence in enumerate(confidences):
        fx.make_items(model, 1, confidence=confidence, prefix=f"d{i}")
        ids.append(fx.decide(review_item_claim_next(user=user), user, "accept").pk)
    return ids


@pytest.fixture
def history(fraud_model, pooled_reviewer):
    """Six decisions at 0.625 and six at 0.25, interleaved in time."""
    ids = decided(fraud_model, pooled_reviewer, [0.625, 0.25] * 6)
    return {0.625: ids[0::2], 0.25: ids[1::2]}


def test_ties_above_show_the_newest(fraud_model, history):
    [item] = fx.make_items(fraud_model, 1, confidence=0.5, prefix="now")
    shown = similar_decisions(item)
    # All four at the nearest confidence (0.625), the newest first; none from the six below.
    assert [d.pk for d in shown] == sorted(history[0.625], reverse=True)[:4]


def test_ties_below_show_the_newest(fraud_model, history):
    [item] = fx.make_items(fraud_model, 1, confidence=0.3, prefix="now")
    shown = similar_decisions(item)
    assert [d.pk for d in shown] == sorted(history[0.25], reverse=True)[:4]


def test_both_sides_merge_by_distance(fraud_model, history):
    [item] = fx.make_items(fraud_model, 1, confidence=0.4375, prefix="now")
    # 0.625 and 0.25 are both 0.1875 away: the newest of both sides, newest first.
    shown = similar_decisions(item, limit=3)
    newest = sorted(history[0.625][-3:] + history[0.25][-3:], reverse=True)[:3]
    assert [d.pk for d in shown] == newest


def _plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def test_each_side_is_an_index_scan_that_needs_no_sort(fraud_model, history):
    """With ties at the boundary confidence the old index (model, label, confidence) made
    PostgreSQL sort every tied decision; the id in the index lets the LIMIT stop early."""
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    [item] = fx.make_items(fraud_model, 1, confidence=0.4375, prefix="now")
    with CaptureQueriesContext(connection) as queries:
        similar_decisions(item)
    statements = [q["sql"] for q in queries if 'FROM "reviewapp_decision"' in q["sql"]]
    assert len(statements) == 2
    used = set()
    with transaction.atomic(), connection.cursor() as cursor:
        # A dozen rows fit one page, where a sequential scan and a sort are cheapest, and the
        # join's order then follows whatever statistics earlier tests left: rule those out so
        # the plan shows what the indexes allow. A sort stays in the plan when no index gives
        # the order (switching sorts off only makes them expensive), as with the old index.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        for sql in statements:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            raw = cursor.fetchone()[0]
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            nodes = _plan_nodes(plan)
            assert not [n for n in nodes if "Sort" in n["Node Type"]], sql
            used |= {
                n.get("Index Name") for n in nodes if n.get("Relation Name") == "reviewapp_decision"
            }
    assert used == {"decision_similar_up_idx", "decision_similar_down_idx"}
