"""Blind items (docs/quality/blind.md): gold, qualification and second-review items look like
live routed items to the reviewer, in the page and in the API, and no path leads from one to
its source item or the earlier decision."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from reviewapp.core import clock
from reviewapp.core.models import Notification
from reviewapp.models import Decision, PoolMembership, Prediction, Purpose, ReviewItem
from reviewapp.quality.models import GoldItem, GoldServing, SecondReview
from reviewapp.selectors.blind import reveals, shown_prediction, shown_reason_codes
from reviewapp.selectors.context import similar_decisions
from reviewapp.selectors.find import find_items
from reviewapp.selectors.queue import queue_counts
from reviewapp.services.claims import review_item_claim_next
from tests.factories import UserFactory
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def not_critical(fraud_model):
    """These tests make their second reviews by hand: on a critical model every override
    would also get one from the double-review rules, which the next claim would pick up."""
    fraud_model.criticality = "high"
    fraud_model.save(update_fields=["criticality"])


SOURCE_REASON = "SRC-REASON-kept-private"
FIRST_NOTE = "FIRST-NOTE-kept-private"
LEAKS = ("gold", "qualification", "second review", "second_review", "adjudicat")


# --- builders ---------------------------------------------------------------------------------
@pytest.fixture
def ana(fraud_model):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


@pytest.fixture
def ravi(fraud_model):
    user = UserFactory(username="ravi", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


def api_for(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def decided_source(model, reviewer, *, prefix: str = "src") -> ReviewItem:
    """A routed item decided an hour ago by ``reviewer``: an override with a private reason."""
    (item,) = fx.make_items(model, 1, prefix=prefix)
    Prediction.objects.filter(pk=item.prediction_id).update(
        received_at=clock.now() - dt.timedelta(hours=5), model_version="1.0"
    )
    held = review_item_claim_next(user=reviewer)
    assert held.pk == item.pk
    fx.decide(held, reviewer, "override", label="legit", reason=SOURCE_REASON)
    item.refresh_from_db()
    return item


def live_item(model) -> ReviewItem:
    """A routed item that just arrived, from the model's newest version."""
    (item,) = fx.make_items(model, 1, prefix="live")
    Prediction.objects.filter(pk=item.prediction_id).update(model_version="2.0")
    return item


def copy_queue_fields(like: ReviewItem) -> dict[str, Any]:
    """Priority and SLA as a typical routed item has them (as the gold part serves)."""
    now = clock.now()
    return {
        "priority": like.priority,
        "sla_due_at": now + (like.sla_due_at - like.created_at),
        "created_at": now,
        "updated_at": now,
    }


def serve_gold(source: ReviewItem, reviewer, lead, *, like: ReviewItem) -> ReviewItem:
    gold = GoldItem.objects.create(
        model=source.model,
        prediction=source.prediction,
        source_item=source,
        label="legit",
        model_label=source.prediction.label,
        adversarial=True,
        marked_by=lead,
    )
    item = ReviewItem.objects.create(
        prediction=source.prediction,
        model=source.model,
        purpose=Purpose.GOLD,
        for_reviewer=reviewer,
        **copy_queue_fields(like),
    )
    GoldServing.objects.create(
        gold=gold, item=item, reviewer=reviewer, model=source.model, adversarial=True
    )
    return item


def serve_second_review(source: ReviewItem, *, like: ReviewItem) -> ReviewItem:
    first = Decision.objects.get(item=source)
    Decision.objects.filter(pk=first.pk).update(held=True, note=FIRST_NOTE)
    item = ReviewItem.objects.create(
        prediction=source.prediction,
        model=source.model,
        purpose=Purpose.SECOND_REVIEW,
        excluded_reviewer=first.reviewer,
        **copy_queue_fields(like),
    )
    SecondReview.objects.create(
        model=source.model,
        prediction=source.prediction,
        first_decision=first,
        second_item=item,
        why=SecondReview.Why.CRITICAL_OVERRIDE,
    )
    return item


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def same_shape(a: Any, b: Any, path: str = "") -> None:
    """Same keys and types at every level; an empty list matches any list."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, set(a) ^ set(b or {}))
        for key in a:
            same_shape(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list), path
        if a and b:
            same_shape(a[0], b[0], f"{path}[0]")
    else:
        assert type(a) is type(b), (path, a, b)


def id_values(body: Any, key: str = "") -> list[Any]:
    """Every value under an id-like key (id, item, prediction ids)."""
    found = []
    if isinstance(body, dict):
        for k, v in body.items():
            found += id_values(v, k)
    elif isinstance(body, list):
        for v in body:
            found += id_values(v, key)
    elif key in ("id", "item", "external_id", "prediction"):
        found.append(body)
    return found


def claim_both(ana, first_expected: set[int]) -> dict[int, dict]:
    """Claim twice over the API as ana, accepting the first: {item id: claim response}."""
    c = api_for(ana)
    got = {}
    for _ in range(2):
        r = c.post("/api/v1/queue/claim")
        assert r.status_code == 200, r.content
        body = r.json()
        got[body["id"]] = body
        if len(got) == 1:
            done = c.post(
                f"/api/v1/queue/items/{body['id']}/decide",
                {"action": "accept", "generation": body["claim_generation"]},
                format="json",
            )
            assert done.status_code == 201
    assert set(got) == first_expected
    return got


def page_without_label_picker(html: str) -> str:
    return re.sub(r'<select name="label".*?</select>', "", html, flags=re.S)


# --- the API, field by field ------------------------------------------------------------------
def test_gold_item_api_is_field_by_field_like_a_live_item(fraud_model, ana, ravi, lead):
    source = decided_source(fraud_model, ravi)
    live = live_item(fraud_model)
    gold = serve_gold(source, ana, lead, like=live)
    got = claim_both(ana, {live.pk, gold.pk})
    live_body, gold_body = got[live.pk], got[gold.pk]

    same_shape(live_body, gold_body)
    same_shape(gold_body, live_body)
    p = source.prediction
    assert p.pk not in id_values(gold_body) and source.pk not in id_values(gold_body)
    assert gold_body["prediction"]["id"] is None and live_body["prediction"]["id"] is None
    assert gold_body["prediction"]["external_id"] is None
    text = json.dumps(gold_body).lower()
    assert p.external_id.lower() not in text
    assert p.received_at.isoformat()[:16] not in text
    assert SOURCE_REASON.lower() not in text and "ravi" not in text
    for word in LEAKS:
        assert word not in text, word
    # The model's current version, not the source's; the source's answer is not "similar".
    assert gold_body["model_version"] == live_body["model_version"] == "2.0"
    assert all(d["item"] != source.pk for d in gold_body["similar_decisions"])
    assert gold_body["reasons"] == live_body["reasons"]
    # The list and the item's own endpoint say no more.
    listed = api_for(ana).get("/api/v1/queue/items?status=all").json()["results"]
    row = next(r for r in listed if r["id"] == gold.pk)
    assert row["prediction"]["id"] is None and row["prediction"]["external_id"] is None
    detail = api_for(ana).get(f"/api/v1/queue/items/{gold.pk}").json()
    assert not any(w in json.dumps(detail).lower() for w in LEAKS)


def test_gold_review_page_is_like_a_live_page(client, fraud_model, ana, ravi, lead):
    source = decided_source(fraud_model, ravi)
    live = live_item(fraud_model)
    gold = serve_gold(source, ana, lead, like=live)
    client.force_login(ana)
    pages = {}
    for _ in range(2):
        held = review_item_claim_next(user=ana)
        pages[held.pk] = client.get(f"/queue/items/{held.pk}/review/").content.decode()
        if len(pages) == 1:
            fx.decide(held, ana, "accept")
    gold_html, live_html = pages[gold.pk], pages[live.pk]
    low = page_without_label_picker(gold_html).lower()
    for word in LEAKS:
        assert word not in low, word
    assert f"#{source.pk}<" not in gold_html and f"/queue/items/{source.pk}/" not in gold_html
    assert SOURCE_REASON not in gold_html and "ravi" not in gold_html
    assert source.prediction.external_id not in gold_html
    assert "legit" not in page_without_label_picker(gold_html)  # the known answer
    assert "v2.0" in gold_html and "v1.0" not in gold_html
    # Same sections on both pages (the external id is shown on neither to a reviewer).
    for words in ("Why flagged", "Similar past decisions", "Lineage", "Model says"):
        assert words in gold_html and words in live_html
    assert ">external id</span>" not in gold_html and ">external id</span>" not in live_html


def test_second_review_shows_nothing_of_the_first_decision(client, fraud_model, ana, ravi, lead):
    source = decided_source(fraud_model, ravi)
    live = live_item(fraud_model)
    second = serve_second_review(source, like=live)
    got = claim_both(ana, {live.pk, second.pk})
    body = got[second.pk]
    same_shape(got[live.pk], body)
    text = json.dumps({k: v for k, v in body.items() if k != "labels"})
    for secret in (SOURCE_REASON, FIRST_NOTE, "ravi", "legit", source.prediction.external_id):
        assert secret not in text, secret
    assert not any(w in text.lower() for w in LEAKS)
    client.force_login(ana)
    html = page_without_label_picker(
        client.get(f"/queue/items/{second.pk}/review/").content.decode()
    )
    for secret in (SOURCE_REASON, FIRST_NOTE, "ravi", "legit", f"/queue/items/{source.pk}/"):
        assert secret not in html, secret
    item_page = client.get(f"/queue/items/{second.pk}/").content.decode()
    for secret in (SOURCE_REASON, FIRST_NOTE, "ravi", "Routed to review", "Second review"):
        assert secret not in item_page, secret
    # The first reviewer never sees the second review, anywhere.
    assert client.get(f"/queue/items/{second.pk}/").status_code == 200
    client.force_login(ravi)
    assert client.get(f"/queue/items/{second.pk}/review/").status_code == 404
    assert api_for(ravi).get(f"/api/v1/queue/items/{second.pk}").status_code == 404
    listed = api_for(ravi).get("/api/v1/queue/items?status=all").json()["results"]
    assert second.pk not in {r["id"] for r in listed}


# --- unit rules -------------------------------------------------------------------------------
def test_reason_codes_of_a_passed_prediction_read_qa_sample(client, fraud_model, ana, lead):
    (routed,) = fx.make_items(fraud_model, 1, prefix="r")
    passed = fx.make_items(fraud_model, 1, confidence=0.97, prefix="p")
    assert passed == []  # confident: routing let it pass, no item
    p = Prediction.objects.get(external_id__startswith="p-")
    assert p.routed is False
    item = ReviewItem.objects.create(
        prediction=p,
        model=fraud_model,
        purpose=Purpose.GOLD,
        for_reviewer=ana,
        **copy_queue_fields(routed),
    )
    assert shown_reason_codes(item, viewer=ana) == ["qa_sample"]
    assert shown_prediction(item, viewer=ana).reason_details == {}
    assert shown_reason_codes(item, viewer=lead) == list(p.reason_codes or [])
    # A routed source keeps its own reasons; a live item is never changed.
    assert shown_reason_codes(routed, viewer=ana) == routed.prediction.reason_codes
    shown = shown_prediction(item, viewer=ana)
    assert shown.received_at == item.created_at and shown.external_id is None
    # The list's reason filter agrees with what the list shows.
    client.force_login(ana)
    html = client.get("/queue/?status=open&reason=qa_sample").content.decode()
    assert f"/queue/items/{item.pk}/" in html and f"/queue/items/{routed.pk}/" not in html
    body = api_for(ana).get("/api/v1/queue/items?reason=qa_sample").json()
    assert [r["id"] for r in body["results"]] == [item.pk]
    assert body["results"][0]["prediction"]["reason_codes"] == ["qa_sample"]


def test_who_sees_through(fraud_model, ana, ravi, lead, engineer):
    source = decided_source(fraud_model, ravi)
    gold = serve_gold(source, ana, lead, like=source)
    assert not reveals(ana, gold) and not reveals(ravi, gold)
    assert reveals(lead, gold) and reveals(engineer, gold) and reveals(None, gold)
    assert reveals(ana, source)  # a live item hides nothing
    # A lead served a gold item of their own is its reviewer.
    own = ReviewItem.objects.create(
        prediction=source.prediction,
        model=fraud_model,
        purpose=Purpose.GOLD,
        for_reviewer=lead,
        **copy_queue_fields(source),
    )
    assert not reveals(lead, own)


def test_similar_decisions_leave_out_every_item_of_the_same_prediction(
    fraud_model, ana, ravi, lead
):
    source = decided_source(fraud_model, ravi)
    (other,) = fx.make_items(fraud_model, 1, prefix="other")  # same confidence 0.55
    held = review_item_claim_next(user=ana)
    assert held.pk == other.pk
    other_decision = fx.decide(held, ana, "accept")
    # Another reviewer's decided gold serving of the same prediction.
    ravi_gold = serve_gold(source, ravi, lead, like=source)
    ReviewItem.objects.filter(pk=ravi_gold.pk).update(status="decided")
    Decision.objects.create(
        item=ravi_gold,
        prediction=source.prediction,
        model=fraud_model,
        reviewer=ravi,
        action="override",
        predicted_label=source.prediction.label,
        final_label="legit",
        reason="gold answer",
        model_confidence=source.prediction.confidence,
        decided_at=clock.now(),
    )
    ana_gold = ReviewItem.objects.create(
        prediction=source.prediction,
        model=fraud_model,
        purpose=Purpose.QUALIFICATION,
        for_reviewer=ana,
        **copy_queue_fields(source),
    )
    similar = similar_decisions(ana_gold)
    assert [d.pk for d in similar] == [other_decision.pk]
    assert all(d.prediction_id != source.prediction_id for d in similar)


# --- lists, counts, search, history, replay ---------------------------------------------------
def test_queue_list_and_counts_hide_others_served_items(client, fraud_model, ana, ravi, lead):
    source = decided_source(fraud_model, ravi)
    live = live_item(fraud_model)
    gold = serve_gold(source, ana, lead, like=live)
    client.force_login(ravi)
    html = client.get("/queue/?status=open").content.decode()
    assert f"/queue/items/{gold.pk}/" not in html and f"/queue/items/{live.pk}/" in html
    assert client.get(f"/queue/items/{gold.pk}/").status_code == 404
    assert queue_counts(user=ravi)["total"] == 1
    client.force_login(ana)
    html = client.get("/queue/?status=open").content.decode()
    assert f"/queue/items/{gold.pk}/" in html
    assert not any(w in html.lower() for w in LEAKS)
    # Counts match the list a reviewer sees: their own gold in, others' out.
    assert queue_counts(user=ana)["total"] == 2
    assert queue_counts(user=ana)["by_status"]["pending"] == 2
    client.force_login(lead)
    html = client.get("/queue/?status=open").content.decode()
    assert f"/queue/items/{gold.pk}/" in html and ">gold</span>" in html
    assert queue_counts(user=lead)["total"] == 2
    # A second review of ravi's decision: counted for ana and the lead, not for ravi.
    serve_second_review(source, like=live)
    cache.clear()
    assert queue_counts(user=ravi)["total"] == 1
    assert queue_counts(user=ana)["total"] == 3 and queue_counts(user=lead)["total"] == 3


def test_find_never_leads_from_a_blind_item_to_its_source(client, fraud_model, ana, ravi, lead):
    source = decided_source(fraud_model, ravi)
    gold = serve_gold(source, ana, lead, like=source)
    p = source.prediction
    for query in (p.external_id, str(p.pk), p.external_id[:4]):
        found = find_items(user=ana, query=query)
        assert gold.pk not in {i.pk for i in found.items}, query
    assert find_items(user=ana, query=f"#{gold.pk}").only.pk == gold.pk
    # A lead finds both.
    assert {gold.pk, source.pk} <= {i.pk for i in find_items(user=lead, query=p.external_id).items}
    client.force_login(ana)
    r = client.get(f"/queue/find/?q={p.external_id}")
    assert r.status_code == 302 and r["Location"] == f"/queue/items/{source.pk}/"
    html = client.get(f"/queue/find/?q={p.external_id[:4]}").content.decode()
    assert "External id" not in html and p.external_id not in html


def test_history_and_replay_of_a_blind_item(client, fraud_model, ana, ravi, lead):
    source = decided_source(fraud_model, ravi)
    gold = serve_gold(source, ana, lead, like=source)
    held = review_item_claim_next(user=ana)
    assert held.pk == gold.pk
    client.force_login(ana)
    html = client.get(f"/queue/items/{gold.pk}/").content.decode()
    assert "Claimed" in html
    for secret in ("Routed to review", "Prediction ingested", SOURCE_REASON, "ravi", "Gold"):
        assert secret not in html, secret
    assert "Replay routing" not in html
    assert client.get(f"/queue/items/{gold.pk}/replay/").status_code == 404
    client.force_login(lead)
    html = client.get(f"/queue/items/{gold.pk}/").content.decode()
    assert "Routed to review" in html and ">gold</span>" in html
    assert client.get(f"/queue/items/{gold.pk}/replay/").status_code == 200


def test_after_deciding_nothing_says_gold_or_scores_it(client, fraud_model, ana, ravi, lead):
    source = decided_source(fraud_model, ravi)
    gold = serve_gold(source, ana, lead, like=source)
    held = review_item_claim_next(user=ana)
    decision = fx.decide(held, ana, "override", label="legit", reason="looks fine")
    client.force_login(ana)
    mine = client.get("/queue/mine/").content.decode()
    assert f"/queue/items/{gold.pk}/" in mine and "looks fine" in mine
    # The page's own content (the top bar links to "My scorecard", which is no leak).
    mine = mine.split('id="main"', 1)[1]
    for words in (*LEAKS, "correct", "wrong", "score"):
        assert words not in mine.lower(), words
    toast = client.get(f"/queue/?done={decision.pk}").content.decode().lower()
    assert "undo" in toast and not any(w in toast for w in LEAKS)
    # The day's figures count one's own blind decisions like any other.
    figures = client.get("/queue/mine/").context["figures"]
    assert figures["mine"].items == 1 and figures["mine"].overrides == 1
    assert not Notification.objects.filter(recipient=ana).exists()
