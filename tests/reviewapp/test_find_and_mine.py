"""Find an item from the top bar, My decisions, and the leads' escalations count and notice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from reviewapp.core.models import Notification
from reviewapp.models import Decision, PoolMembership
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.escalations import ESCALATED
from tests.factories import UserFactory, signed_in_queries

from . import test_queue_fixtures as fx

make_items = fx.make_items
pooled_reviewer = fx.pooled_reviewer
other_reviewer = fx.other_reviewer
radiology_model = fx.radiology_model
pytestmark = pytest.mark.django_db


def claim_and_decide(user, action="accept", **fields) -> Decision:
    item = review_item_claim_next(user=user)
    assert item is not None
    return fx.decide(item, user, action, **fields)


# --- find an item ---------------------------------------------------------------------------
def test_exact_ids_jump_straight_to_the_item(client, pooled_reviewer, fraud_model):
    item = make_items(fraud_model, 3, prefix="txn")[1]
    client.force_login(pooled_reviewer)
    target = f"/queue/items/{item.pk}/"
    for q in (str(item.pk), f"#{item.pk}", item.prediction.external_id, f" {item.pk} "):
        response = client.get("/queue/find/", {"q": q})
        assert response.status_code == 302 and response["Location"] == target, q
    # The prediction's number finds its item (listed beside an item whose own number it is,
    # if any: on a shared database the two sequences run apart).
    response = client.get("/queue/find/", {"q": str(item.prediction_id)})
    if response.status_code == 302:
        assert response["Location"] == target
    else:
        assert response.status_code == 200 and f'href="{target}"' in response.content.decode()


def test_several_matches_are_listed(client, pooled_reviewer, fraud_model):
    items = make_items(fraud_model, 3, prefix="order-77")
    client.force_login(pooled_reviewer)
    response = client.get("/queue/find/", {"q": "order-77"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "No exact match; 3 items have an external id starting with" in body
    for item in items:
        assert f'href="/queue/items/{item.pk}/"' in body


def test_an_item_outside_the_pools_is_not_found_and_not_leaked(
    client, pooled_reviewer, lead, fraud_model, radiology_model
):
    hidden = make_items(radiology_model, 1, confidence=0.5, label="nodule", prefix="scan")[0]
    client.force_login(pooled_reviewer)
    for q in (str(hidden.pk), hidden.prediction.external_id, "scan"):
        response = client.get("/queue/find/", {"q": q})
        body = response.content.decode()
        assert response.status_code == 404, q
        assert "No item in your queue matches" in body
        assert f"/queue/items/{hidden.pk}/" not in body and "radiology" not in body
    # The same search by a lead, who reads every model, opens it.
    client.force_login(lead)
    response = client.get("/queue/find/", {"q": hidden.prediction.external_id})
    assert response.status_code == 302 and response["Location"] == f"/queue/items/{hidden.pk}/"


@pytest.mark.parametrize(
    ("q", "words"),
    [
        ("", "Type an item number, a prediction number or an external id."),
        ("   ", "Type an item number, a prediction number or an external id."),
        ("x" * 201, "At most 200 characters"),
        ("ab\tc", "no control characters"),
    ],
)
def test_bad_input_says_what_is_wrong(client, pooled_reviewer, fraud_model, q, words):
    client.force_login(pooled_reviewer)
    response = client.get("/queue/find/", {"q": q})
    assert response.status_code == 400
    assert words in response.content.decode()


def test_huge_numbers_and_odd_text_are_not_errors(client, pooled_reviewer, fraud_model):
    client.force_login(pooled_reviewer)
    for q in ("99999999999999999999999", "#0", "'; drop table", "ünïcode", "%", "#"):
        assert client.get("/queue/find/", {"q": q}).status_code == 404, q


def test_find_needs_a_queue_role(client, fraud_model):
    assert client.get("/queue/find/", {"q": "1"}).status_code == 302  # to sign-in
    client.force_login(UserFactory(username="cora", roles=["committee"]))
    assert client.get("/queue/find/", {"q": "1"}).status_code == 403


def test_top_bar_offers_the_find_box_to_queue_roles_only(client, pooled_reviewer, fraud_model):
    client.force_login(pooled_reviewer)
    assert 'action="/queue/find/"' in client.get("/notifications/").content.decode()
    client.force_login(UserFactory(username="cora", roles=["committee"]))
    assert 'action="/queue/find/"' not in client.get("/notifications/").content.decode()


# --- my decisions ---------------------------------------------------------------------------
def test_decisions_record_when_the_claim_began(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = review_item_claim_next(user=pooled_reviewer)
    d = fx.decide(item, pooled_reviewer, "accept")
    assert d.claimed_at == item.claimed_at and d.claimed_at is not None


def test_my_decisions_lists_mine_with_figures_beside_the_team(
    client, pooled_reviewer, other_reviewer, fraud_model, radiology_model
):
    make_items(fraud_model, 6)
    make_items(radiology_model, 1, confidence=0.5, label="nodule")
    mine = [
        claim_and_decide(pooled_reviewer, "accept"),
        claim_and_decide(pooled_reviewer, "override", label="legit", reason="known merchant"),
        claim_and_decide(pooled_reviewer, "escalate", note="needs the merchant file"),
    ]
    theirs = claim_and_decide(other_reviewer, "accept")
    claim_and_decide(other_reviewer, "accept")
    # Handling times: ana 60 s, 120 s, 180 s (median 120 s); ravi 10 s and 20 s.
    for d, seconds in zip([*mine, theirs], [60, 120, 180, 10], strict=True):
        Decision.objects.filter(pk=d.pk).update(
            claimed_at=d.decided_at - dt.timedelta(seconds=seconds)
        )
    Decision.objects.filter(reviewer=other_reviewer).exclude(pk=theirs.pk).update(
        claimed_at=timezone.now() - dt.timedelta(seconds=20), decided_at=timezone.now()
    )
    # A decision outside ana's pools does not count in her team.
    outsider = UserFactory(username="rad", roles=["reviewer"])
    PoolMembership.objects.create(model=radiology_model, user=outsider)
    claim_and_decide(outsider, "accept")

    client.force_login(pooled_reviewer)
    response = client.get("/queue/mine/")
    body = response.content.decode()
    assert response.status_code == 200
    for d in mine:
        assert f'href="/queue/items/{d.item_id}/"' in body
    assert f'href="/queue/items/{theirs.item_id}/"' not in body
    figures = response.context["figures"]
    me, team = figures["mine"], figures["team"]
    assert (me.items, me.median_seconds, me.overrides, me.finals) == (3, 120, 1, 2)
    assert (team.items, team.overrides, team.finals, figures["team_size"]) == (5, 1, 4, 2)
    assert team.median_seconds == 60  # of 60, 120, 180, 10, 20
    assert "50 %" in body and "25 %" in body  # ana's override share, the team's


def test_undo_is_offered_only_while_allowed(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 2)
    with override_settings(REVIEW_UNDO_SECONDS=60):
        fresh = claim_and_decide(pooled_reviewer, "accept")
    old = claim_and_decide(pooled_reviewer, "accept")
    Decision.objects.filter(pk=old.pk).update(deliver_after=timezone.now() - dt.timedelta(1))
    client.force_login(pooled_reviewer)
    body = client.get("/queue/mine/").content.decode()
    assert f'action="/queue/decisions/{fresh.pk}/undo/"' in body
    assert f'action="/queue/decisions/{old.pk}/undo/"' not in body
    response = client.post(f"/queue/decisions/{fresh.pk}/undo/")
    assert response.status_code == 302
    fresh.refresh_from_db()
    assert fresh.undone_at is not None
    assert "undone" in client.get("/queue/mine/").content.decode()


def test_my_decisions_paginates_and_refuses_a_bad_page(client, pooled_reviewer, fraud_model):
    make_items(fraud_model, 27)
    for _ in range(27):
        claim_and_decide(pooled_reviewer, "accept")
    client.force_login(pooled_reviewer)
    first = client.get("/queue/mine/")
    assert len(first.context["rows"]) == 25 and first.context["has_next"]
    second = client.get("/queue/mine/?page=2")
    assert len(second.context["rows"]) == 2 and not second.context["has_next"]
    bad = client.get("/queue/mine/?page=abc")
    assert bad.status_code == 400 and "<code>page</code>" in bad.content.decode()


def test_my_decisions_is_linked_and_needs_a_deciding_role(client, pooled_reviewer, fraud_model):
    client.force_login(pooled_reviewer)
    assert 'href="/queue/mine/"' in client.get("/queue/").content.decode()
    client.force_login(UserFactory(username="sam", roles=["engineer"]))
    assert client.get("/queue/mine/").status_code == 403


def test_my_decisions_query_count_is_fixed(
    client, pooled_reviewer, fraud_model, django_assert_num_queries
):
    make_items(fraud_model, 12)
    for _ in range(6):
        claim_and_decide(pooled_reviewer, "accept")
    client.force_login(pooled_reviewer)
    client.get("/queue/mine/")
    # pools (visibility), decisions page, today's figures
    with django_assert_num_queries(signed_in_queries(3)):
        client.get("/queue/mine/")
    for _ in range(6):
        claim_and_decide(pooled_reviewer, "accept")
    with django_assert_num_queries(signed_in_queries(3)):
        client.get("/queue/mine/")


# --- escalations ----------------------------------------------------------------------------
def test_escalation_tells_the_leads_and_not_the_reviewer(
    pooled_reviewer, lead, fraud_model, django_capture_on_commit_callbacks
):
    other_lead = UserFactory(username="lin", roles=["lead"])
    make_items(fraud_model, 1)
    with django_capture_on_commit_callbacks(execute=True):
        d = claim_and_decide(pooled_reviewer, "escalate", note="Needs the merchant file")
    told = Notification.objects.filter(kind=ESCALATED)
    assert sorted(told.values_list("recipient__username", flat=True)) == ["lee", "lin"]
    n = told.get(recipient=other_lead)
    assert n.title == f"Item #{d.item_id} ({fraud_model.slug}) escalated by ana"
    assert n.body == "Needs the merchant file" and n.link == f"/queue/items/{d.item_id}/"


def test_a_rolled_back_escalation_tells_nobody(pooled_reviewer, lead, fraud_model):
    make_items(fraud_model, 1)
    claim_and_decide(pooled_reviewer, "escalate", note="x")  # the test's transaction never commits
    assert not Notification.objects.filter(kind=ESCALATED).exists()


def test_leads_see_the_escalations_count_in_the_top_bar(
    client, pooled_reviewer, lead, fraud_model, django_capture_on_commit_callbacks
):
    make_items(fraud_model, 3)
    client.force_login(lead)
    body = client.get("/queue/").content.decode()
    assert 'data-counter="escalations"' in body and 'class="nav-count"' not in body
    with django_capture_on_commit_callbacks(execute=True):
        claim_and_decide(pooled_reviewer, "escalate", note="a")
        claim_and_decide(pooled_reviewer, "escalate", note="b")
    body = client.get("/queue/").content.decode()
    assert (
        'href="/queue/escalations/" data-counter="escalations">Escalations <span class="nav-count">2</span>'
        in body
    )
    client.force_login(pooled_reviewer)
    assert 'data-counter="escalations"' not in client.get("/queue/").content.decode()


def test_the_count_is_cached_between_pages(client, lead, fraud_model, django_assert_num_queries):
    client.force_login(lead)
    client.get("/notifications/")
    with django_assert_num_queries(signed_in_queries(1)) as ctx:  # the notifications list
        client.get("/notifications/")
    assert not any("reviewapp_reviewitem" in q["sql"] for q in ctx.captured_queries)
