import datetime as dt

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import Decision, ReviewItem
from reviewapp.services.claims import review_item_claim_next, review_item_release
from reviewapp.services.sweeps import review_sla_sweep
from tests.factories import signed_in_queries

from . import test_queue_fixtures as fx

make_items = fx.make_items
pooled_reviewer = fx.pooled_reviewer
other_reviewer = fx.other_reviewer
radiology_model = fx.radiology_model
S = ReviewItem.Status
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def login(client, user):
    client.force_login(user)
    return client


def test_queue_list_needs_login_and_role(client, fraud_model):
    assert client.get("/queue/").status_code == 302
    from tests.factories import UserFactory

    login(client, UserFactory(username="nobody", roles=["committee"]))
    assert client.get("/queue/").status_code == 403


def test_queue_list_shows_pool_items_only_and_counts(
    client, pooled_reviewer, fraud_model, radiology_model
):
    make_items(fraud_model, 3)
    make_items(radiology_model, 2, confidence=0.5, label="nodule")
    login(client, pooled_reviewer)
    response = client.get("/queue/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('data-href="/queue/items/') == 3  # radiology items are not in ana's pools
    assert "3 open items" in body
    assert "Start reviewing" in body


def test_queue_filters_and_bad_filter_value(client, lead, fraud_model):
    a, b = make_items(fraud_model, 2)
    ReviewItem.objects.filter(pk=a.pk).update(priority=90)
    ReviewItem.objects.filter(pk=b.pk).update(priority=10)
    login(client, lead)
    body = client.get("/queue/?priority=high").content.decode()
    assert f'href="/queue/items/{a.pk}/"' in body and f'href="/queue/items/{b.pk}/"' not in body
    response = client.get("/queue/?status=bogus")
    assert response.status_code == 400 and "Unknown value" in response.content.decode()


def test_queue_list_query_count_is_fixed(client, lead, fraud_model, django_assert_num_queries):
    make_items(fraud_model, 30)
    login(client, lead)
    client.get("/queue/")  # warm the counts cache and the session
    # models, items page, counts snapshot, breached list, assignees (with whether each is a
    # lead), their pools, the model banners (core's hook: the listed models' modes), the
    # reviewer's notices (quality: paused, qualifying, guideline to read): the same whatever the
    # number of items
    with django_assert_num_queries(signed_in_queries(8)):
        response = client.get("/queue/")
    assert response.status_code == 200
    make_items(fraud_model, 20, prefix="more")
    with django_assert_num_queries(signed_in_queries(8)):
        client.get("/queue/")


def test_start_reviewing_query_count_is_fixed(
    client, pooled_reviewer, fraud_model, django_assert_num_queries
):
    from django.db import connection

    make_items(fraud_model, 3)
    login(client, pooled_reviewer)
    # PostgreSQL: held item and pools, the async-commit setting, the claim with its audit
    # event (one statement). Elsewhere: held item, pools, candidate, update, audit event.
    # Both plus the claim's transaction, a savepoint inside the test's.
    own = 5 if connection.vendor == "postgresql" else 7
    for _ in range(2):
        ReviewItem.objects.filter(status=S.CLAIMED).update(
            status=S.PENDING, claimed_by=None, claimed_at=None, claim_expires_at=None
        )
        with django_assert_num_queries(signed_in_queries(own)):
            response = client.post("/queue/next/")
        assert response.status_code == 302 and "/review/" in response["Location"]


def test_start_reviewing_then_decide_and_next(client, pooled_reviewer, fraud_model):
    first, second = make_items(fraud_model, 2)
    login(client, pooled_reviewer)
    response = client.post("/queue/next/")
    assert response.status_code == 302 and "/review/" in response["Location"]
    held = ReviewItem.objects.get(claimed_by=pooled_reviewer)
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Model says" in html and "threshold" in html and "Why flagged" in html
    assert "Confidence 0.55 below threshold 0.80" in html
    response = client.post(
        f"/queue/items/{held.pk}/decide/",
        {
            "action": "override",
            "label": "legit",
            "reason": "Known merchant",
            "generation": held.claim_generation,
        },
    )
    assert response.status_code == 302
    d = Decision.objects.get()
    assert d.action == "override" and d.final_label == "legit" and d.reason == "Known merchant"
    assert response["Location"].endswith(f"?done={d.pk}") and "/review/" in response["Location"]
    nxt = client.get(response["Location"]).content.decode()
    assert "Undo" in nxt and f"item #{held.pk}" in nxt


def test_decide_with_errors_rerenders_with_field_messages(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    login(client, pooled_reviewer)
    held = review_item_claim_next(user=pooled_reviewer)
    response = client.post(
        f"/queue/items/{held.pk}/decide/",
        {"action": "override", "label": "", "reason": "", "generation": held.claim_generation},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Pick the correct label." in html and "Say why the model was wrong." in html
    assert not Decision.objects.exists()


def test_decide_without_an_action_is_refused_naming_action(client, pooled_reviewer, fraud_model):
    """What the browser sends when no action was chosen: nothing is recorded, the item stays
    held, and the page says which field is missing."""
    make_items(fraud_model, 1)
    login(client, pooled_reviewer)
    held = review_item_claim_next(user=pooled_reviewer)
    for action in ("", "escalate-ish"):
        response = client.post(
            f"/queue/items/{held.pk}/decide/",
            {"action": action, "reason": "looks fine to me", "generation": held.claim_generation},
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert 'id="err-action"' in html and "Choose accept, override, escalate or defer." in html
        assert "looks fine to me" in html  # the note is not lost
    assert not Decision.objects.exists()
    held.refresh_from_db()
    assert held.status == S.CLAIMED and held.claimed_by == pooled_reviewer


def test_stale_claim_gets_409_with_clear_message(
    client, pooled_reviewer, other_reviewer, fraud_model
):
    make_items(fraud_model, 1)
    held = review_item_claim_next(user=pooled_reviewer)
    review_item_release(item_id=held.pk, user=pooled_reviewer)
    review_item_claim_next(user=other_reviewer)
    login(client, pooled_reviewer)
    response = client.post(
        f"/queue/items/{held.pk}/decide/", {"action": "accept", "generation": held.claim_generation}
    )
    assert response.status_code == 409
    assert "ravi holds this item now" in response.content.decode()
    assert not Decision.objects.exists()
    renew = client.post(f"/queue/items/{held.pk}/renew/", {"generation": held.claim_generation})
    assert renew.status_code == 409 and "errors" in renew.json()


def test_engineer_reads_but_cannot_decide(client, engineer, pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    held = review_item_claim_next(user=pooled_reviewer)
    login(client, engineer)
    assert client.get(f"/queue/items/{held.pk}/review/").status_code == 200
    assert (
        client.post(
            f"/queue/items/{held.pk}/decide/",
            {"action": "accept", "generation": held.claim_generation},
        ).status_code
        == 403
    )
    assert client.post("/queue/next/").status_code == 403
    assert not Decision.objects.exists()


def test_review_page_query_count_is_fixed(
    client, pooled_reviewer, fraud_model, django_assert_num_queries
):
    make_items(fraud_model, 6)
    # a few past decisions make the "similar" panel real
    for _ in range(3):
        item = review_item_claim_next(user=pooled_reviewer)
        fx.decide(item, pooled_reviewer, "accept")
    held = review_item_claim_next(user=pooled_reviewer)
    login(client, pooled_reviewer)
    url = f"/queue/items/{held.pk}/review/"
    client.get(url)
    # pool models, item, similar above, similar below, catalog failure modes matching,
    # guideline, item decisions, catalog tag choices, governance's emergency flag (an
    # emergency rollback of this model awaiting ratification: one indexed query) and the
    # model banners (core's hook: the fail-safe app reads the model's mode row)
    with django_assert_num_queries(signed_in_queries(10)):
        response = client.get(url)
    assert response.status_code == 200
    assert response.content.decode().count("accepted") >= 3


def test_undo_via_view_reopens_and_returns_next_item(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 2)
    login(client, pooled_reviewer)
    held = review_item_claim_next(user=pooled_reviewer)
    client.post(
        f"/queue/items/{held.pk}/decide/", {"action": "accept", "generation": held.claim_generation}
    )
    d = Decision.objects.get()
    response = client.post(f"/queue/decisions/{d.pk}/undo/")
    assert response.status_code == 302 and response["Location"] == reverse(
        "queue:review", args=[held.pk]
    )
    assert list(
        ReviewItem.objects.filter(claimed_by=pooled_reviewer).values_list("pk", flat=True)
    ) == [held.pk]


def test_lead_bulk_over_filter_and_reviewer_cannot(client, lead, pooled_reviewer, fraud_model):
    items = make_items(fraud_model, 4)
    login(client, pooled_reviewer)
    assert (
        client.post("/queue/bulk/", {"action": "release", "items": [items[0].pk]}).status_code
        == 403
    )
    login(client, lead)
    post = {"action": "assign", "assignee": "ana", "scope": "filter", "query": "model=card-fraud"}
    asked = client.post("/queue/bulk/", post)
    assert asked.status_code == 200
    assert "Assign 4 pending items of card-fraud to ana?" in asked.content.decode()
    assert not ReviewItem.objects.filter(status=S.CLAIMED).exists()  # nothing until confirmed
    response = client.post("/queue/bulk/", {**post, "confirm": "4"})
    assert response.status_code == 302
    assert ReviewItem.objects.filter(claimed_by=pooled_reviewer, status=S.CLAIMED).count() == 4
    release = {"action": "release", "items": [items[0].pk, items[1].pk], "confirm": "2"}
    client.post("/queue/bulk/", release)
    assert ReviewItem.objects.filter(status=S.PENDING).count() == 2


def test_item_page_shows_history_from_audit_log(client, lead, pooled_reviewer, fraud_model):
    (item,) = make_items(fraud_model, 1)
    held = review_item_claim_next(user=pooled_reviewer)
    fx.decide(held, pooled_reviewer, "override", label="legit", reason="r")
    login(client, lead)
    html = client.get(f"/queue/items/{item.pk}/").content.decode()
    for words in ("Routed to review", "Claimed", "Decided", "policy v1"):
        assert words in html, words
    # A reviewer reads the item's own events only, on every item (docs/quality/blind.md).
    login(client, pooled_reviewer)
    html = client.get(f"/queue/items/{item.pk}/").content.decode()
    for words in ("Claimed", "Decided", "policy v1"):
        assert words in html, words
    assert "Routed to review" not in html


def test_escalations_view_for_leads_only(client, lead, pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    held = review_item_claim_next(user=pooled_reviewer)
    fx.decide(held, pooled_reviewer, "escalate", note="Need the merchant file")
    login(client, pooled_reviewer)
    assert client.get("/queue/escalations/").status_code == 403
    login(client, lead)
    html = client.get("/queue/escalations/").content.decode()
    assert "Need the merchant file" in html


def test_pools_and_guidelines_pages(client, lead, pooled_reviewer, fraud_model):
    login(client, lead)
    response = client.post("/queue/pools/", {"model": "card-fraud", "user": "lee"})
    assert response.status_code == 302
    response = client.post("/queue/guidelines/card-fraud/", {"body": "", "note": ""})
    assert response.status_code == 400 and "Write the guideline" in response.content.decode()
    client.post("/queue/guidelines/card-fraud/", {"body": "**Check the amount**", "note": "first"})
    assert (
        "<strong>Check the amount</strong>"
        in client.get("/queue/guidelines/card-fraud/").content.decode()
    )
    login(client, pooled_reviewer)
    assert client.post("/queue/guidelines/card-fraud/", {"body": "x"}).status_code == 403
    assert client.post("/queue/pools/", {"model": "card-fraud", "user": "ana"}).status_code == 403


def test_queue_nav_link_appears(client, pooled_reviewer):
    login(client, pooled_reviewer)
    html = client.get("/queue/").content.decode()
    assert 'href="/queue/"' in html


def test_sla_breached_items_listed_first_for_leads(client, lead, fraud_model):
    a, b = make_items(fraud_model, 2)
    ReviewItem.objects.filter(pk=b.pk).update(sla_due_at=timezone.now() - dt.timedelta(minutes=3))
    review_sla_sweep()
    login(client, lead)
    html = client.get("/queue/").content.decode()
    assert "SLA breached" in html
    assert html.index(f'href="/queue/items/{b.pk}/"') < html.index(f'href="/queue/items/{a.pk}/"')


def test_counts_come_from_the_beat_snapshot_when_fresh(client, lead, fraud_model):
    from reviewapp.services.sweeps import queue_counts_refresh

    make_items(fraud_model, 2)
    snapshot = queue_counts_refresh()
    assert sum(r["n"] for r in snapshot.rows) == 2
    make_items(fraud_model, 3, prefix="late")
    login(client, lead)
    assert "2 open items" in client.get("/queue/").content.decode()  # snapshot, not a recount
    queue_counts_refresh()
    assert "5 open items" in client.get("/queue/").content.decode()


@pytest.mark.parametrize(
    ("took_ms", "age_seconds", "recounted"),
    [
        (400, 30, False),  # a count that took 0.4 s is kept for 40 s...
        (400, 41, True),  # ...and recounted after that
        (100_000, 59, False),  # a very slow count waits at most half the stale limit (60 s)
        (100_000, 61, True),
    ],
)
@override_settings(REVIEW_COUNTS_STALE_SECONDS=120)
def test_beat_recounts_no_more_often_than_a_hundred_times_the_count_took(
    fraud_model, took_ms, age_seconds, recounted
):
    from reviewapp.models import QueueCountSnapshot
    from reviewapp.services.sweeps import queue_counts_refresh

    make_items(fraud_model, 2)
    first = queue_counts_refresh()
    QueueCountSnapshot.objects.filter(pk=1).update(
        took_ms=took_ms, computed_at=first.computed_at - dt.timedelta(seconds=age_seconds)
    )
    make_items(fraud_model, 3, prefix="late")
    snapshot = queue_counts_refresh(only_if_due=True)
    assert sum(r["n"] for r in snapshot.rows) == (5 if recounted else 2)
    assert (snapshot.took_ms == took_ms) is not recounted


@pytest.fixture
def support_model(db):
    from tests.factories import MLModelFactory, make_policy

    model = MLModelFactory(slug="support-triage", labels=["billing", "bug"], criticality="medium")
    make_policy(
        model,
        {
            "min_confidence": 0.8,
            "sla_minutes": {"critical": 20, "high": 45, "medium": 240, "low": 720},
            "fallback": {"label": "billing"},
        },
    )
    return model


def test_start_reviewing_claims_within_the_filter_on_screen(
    client, pooled_reviewer, fraud_model, support_model
):
    """The defect: with support-triage filtered, a card-fraud item was served."""
    from reviewapp.models import PoolMembership

    PoolMembership.objects.create(model=support_model, user=pooled_reviewer)
    (fraud,) = make_items(fraud_model, 1)
    ReviewItem.objects.filter(pk=fraud.pk).update(priority=100)  # first in the whole queue
    ticket, ticket2 = make_items(support_model, 2, prefix="s")
    login(client, pooled_reviewer)
    listing = client.get("/queue/?model=support-triage&reason=low_confidence")
    html = listing.content.decode()
    assert 'form="start-form" name="model" value="support-triage"' in html
    assert "Start reviewing claims within this filter" in html

    response = client.post("/queue/next/", {"model": "support-triage", "reason": "low_confidence"})
    assert response.status_code == 302
    held = ReviewItem.objects.get(claimed_by=pooled_reviewer)
    assert held.model_id == support_model.pk
    assert response["Location"] == (
        f"/queue/items/{held.pk}/review/?model=support-triage&reason=low_confidence"
    )
    page = client.get(response["Location"]).content.decode()
    assert "Working through" in page and "support-triage · confidence below threshold" in page
    assert 'name="within" value="model=support-triage&amp;reason=low_confidence"' in page
    assert f'href="/queue/items/{held.pk}/review/">Leave this filter' in page

    # "next" after deciding keeps the filter: the other ticket, not the card-fraud item.
    response = client.post(
        f"/queue/items/{held.pk}/decide/",
        {
            "action": "accept",
            "generation": held.claim_generation,
            "within": "model=support-triage&reason=low_confidence",
        },
    )
    nxt = ReviewItem.objects.get(claimed_by=pooled_reviewer, status=S.CLAIMED)
    assert nxt.model_id == support_model.pk and nxt.pk != held.pk
    assert "model=support-triage" in response["Location"] and "done=" in response["Location"]
    response = client.post(
        f"/queue/items/{nxt.pk}/decide/",
        {"action": "accept", "generation": nxt.claim_generation, "within": "model=support-triage"},
    )
    # Nothing left in the filter: back to the filtered queue, saying so; fraud stays pending.
    assert response["Location"].startswith("/queue/?model=support-triage&done=")
    assert ReviewItem.objects.get(pk=fraud.pk).status == S.PENDING
    page = client.get(response["Location"]).content.decode()
    assert "No items waiting for you in support-triage." in page
    assert {ticket.pk, ticket2.pk} == set(Decision.objects.values_list("item_id", flat=True))


def test_start_reviewing_within_a_priority_band(client, pooled_reviewer, fraud_model):
    high, low = make_items(fraud_model, 2)
    ReviewItem.objects.filter(pk=high.pk).update(priority=90)
    ReviewItem.objects.filter(pk=low.pk).update(priority=20)
    login(client, pooled_reviewer)
    response = client.post("/queue/next/", {"priority": "low"})
    assert response["Location"] == f"/queue/items/{low.pk}/review/?priority=low"
    assert "low priority" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [("model", "no-such-model"), ("reason", "because"), ("priority", "urgent")],
)
def test_start_reviewing_with_a_bad_filter_claims_nothing_and_says_why(
    client, pooled_reviewer, fraud_model, field, value
):
    make_items(fraud_model, 1)
    login(client, pooled_reviewer)
    response = client.post("/queue/next/", {field: value})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Start reviewing could not use this filter" in html
    assert f"{field}: Unknown value" in html and value in html
    assert not ReviewItem.objects.filter(status=S.CLAIMED).exists()


def test_a_stale_working_filter_does_not_lose_the_decision(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 2)
    login(client, pooled_reviewer)
    held = review_item_claim_next(user=pooled_reviewer)
    response = client.post(
        f"/queue/items/{held.pk}/decide/",
        {"action": "accept", "generation": held.claim_generation, "within": "model=renamed"},
        follow=True,
    )
    assert response.status_code == 200
    assert Decision.objects.filter(item=held, action="accept").exists()
    assert "no longer applies" in response.content.decode()


def test_defer_form_says_where_an_untimed_deferral_goes(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    login(client, pooled_reviewer)
    held = review_item_claim_next(user=pooled_reviewer)
    with override_settings(QUEUE_DEFER_EXCLUSION_MINUTES=45):
        html = client.get(f"/queue/items/{held.pk}/review/").content.decode()
    assert (
        "Without a time, it goes back to the queue behind the others, and you will not get it "
        "again for 45 minutes." in html
    )


def test_start_reviewing_tells_a_lead_outside_every_pool_how_to_join(
    client, lead, reviewer, fraud_model
):
    """A lead in no pool has nothing to claim however full the queue: the page says why and
    what to do, not "well done"; a reviewer in no pool is told to ask a lead."""
    make_items(fraud_model, 2)
    login(client, lead)
    page = client.post("/queue/next/", follow=True).content.decode()
    assert "You are in no reviewer pool" in page and "Pools page" in page
    assert "Well done" not in page
    assert not ReviewItem.objects.filter(status=S.CLAIMED).exists()
    login(client, reviewer)
    page = client.post("/queue/next/", follow=True).content.decode()
    assert "Ask a lead to add you" in page and "Well done" not in page
