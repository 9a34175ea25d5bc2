"""People pages and API (issue 17): the queue page says why a pool gives nothing, the leads'
alerts and pool pages, the guideline page, and /api/v1/quality/... per role."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from reviewapp.models import PoolMembership, ReviewItem
from reviewapp.quality.models import QualityAlert
from reviewapp.quality.services.alerts import alert_raise
from reviewapp.quality.services.pauses import reviewer_pause
from reviewapp.services.claims import review_item_claim_next
from reviewapp.services.pools import guideline_publish, pool_member_add
from tests.factories import UserFactory
from tests.reviewapp.test_queue_fixtures import make_items

from .people_fixtures import lead_user, make_gold, member, set_quality

pytestmark = pytest.mark.django_db
__all__ = ["lead_user"]


def _alert(model, reviewer):
    alert, _new = alert_raise(
        kind=QualityAlert.Kind.GOLD_ACCURACY,
        reviewer=reviewer,
        model=model,
        figures={"correct": 2, "wrong": 4, "accuracy": 0.333, "bound": 0.7},
    )
    return alert


def api_for(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


# --- the queue page --------------------------------------------------------------------------
def test_queue_page_of_a_paused_reviewer_says_why_instead_of_nothing(
    client, fraud_model, lead_user
):
    ana = member(fraud_model, "ana")
    make_items(fraud_model, 1)
    reviewer_pause(model_id=fraud_model.pk, user_id=ana.pk, reason="Too fast on gold", by=lead_user)
    client.force_login(ana)
    response = client.post(reverse("queue:next"), follow=True)
    text = response.content.decode()
    assert "A lead paused your reviewing for card-fraud: Too fast on gold. Ask lee." in text
    assert "No items waiting for you" not in text


def test_queue_page_of_a_qualifying_reviewer_shows_progress(client, fraud_model, lead_user):
    set_quality(fraud_model, qualification_size=2)
    ravi = member(fraud_model, "ravi")
    make_gold(fraud_model, 2, by=lead_user, decider=ravi)
    nora = UserFactory(username="nora", roles=["reviewer"])
    pool_member_add(model=fraud_model, user=nora, by=lead_user)
    client.force_login(nora)
    text = client.get(reverse("queue:list")).content.decode()
    assert "You are qualifying for card-fraud: 0 of 2 done." in text


def test_guideline_notice_page_and_acknowledgement(client, fraud_model, lead_user):
    ana = member(fraud_model, "ana")
    make_items(fraud_model, 1)
    guideline_publish(model=fraud_model, body="Check the **country**.", by=lead_user)
    client.force_login(ana)
    text = client.get(reverse("queue:list")).content.decode()
    assert "The card-fraud guideline changed (v1)." in text
    link = reverse("quality:guideline", args=["card-fraud"])
    assert f'href="{link}"' in text and "Read it to get its items" in text
    page = client.get(link).content.decode()
    assert "<strong>country</strong>" in page and "I have read this version (v1)" in page
    response = client.post(link)
    assert response.status_code == 302
    assert not PoolMembership.objects.get(user=ana).guideline_pending
    assert "guideline changed" not in client.get(reverse("queue:list")).content.decode()
    assert review_item_claim_next(user=ana) is not None


def test_guideline_page_is_404_outside_the_pool_and_readable_by_leads(
    client, fraud_model, lead_user
):
    guideline_publish(model=fraud_model, body="Rules.", by=lead_user)
    client.force_login(UserFactory(username="zed", roles=["reviewer"]))
    assert client.get(reverse("quality:guideline", args=["card-fraud"])).status_code == 404
    assert client.post(reverse("quality:guideline", args=["card-fraud"])).status_code == 404
    assert client.get(reverse("quality:guideline", args=["no-such"])).status_code == 404
    client.force_login(lead_user)
    page = client.get(reverse("quality:guideline", args=["card-fraud"])).content.decode()
    assert "Rules." in page and "I have read this version" not in page


# --- the leads' pages ----------------------------------------------------------------------------
def test_alerts_page_for_leads_only(client, fraud_model, lead_user):
    ana = member(fraud_model, "ana")
    alert = _alert(fraud_model, ana)
    client.force_login(lead_user)
    text = client.get(reverse("quality:alerts")).content.decode()
    assert "ana got 2 of 6 gold items right on card-fraud (33%; bound 70%)" in text
    assert "Pause in this pool" in text
    nav = client.get(reverse("queue:list")).content.decode()
    assert "Quality alerts" in nav
    response = client.post(reverse("quality:alert-resolve", args=[alert.pk]), {"note": ""})
    assert response.status_code == 302
    assert QualityAlert.objects.get(pk=alert.pk).status == "open"  # a note is required
    client.post(reverse("quality:alert-resolve", args=[alert.pk]), {"note": "Coached."})
    assert QualityAlert.objects.get(pk=alert.pk).status == "resolved"
    assert "No open quality alerts." in client.get(reverse("quality:alerts")).content.decode()
    for role in ("reviewer", "committee", "engineer"):
        client.force_login(UserFactory(username=f"x-{role}", roles=[role]))
        assert client.get(reverse("quality:alerts")).status_code == 403
        assert client.post(reverse("quality:alert-resolve", args=[alert.pk])).status_code == 403


def test_pool_page_shows_states_and_pauses_and_resumes(client, fraud_model, lead_user):
    ana = member(fraud_model, "ana")
    member(fraud_model, "ravi")
    guideline_publish(model=fraud_model, body="Rules.", by=lead_user)
    PoolMembership.objects.filter(user__username="ravi").update(guideline_pending=False)
    client.force_login(lead_user)
    url = reverse("quality:pool", args=["card-fraud"])
    text = client.get(url).content.decode()
    assert "guideline pending" in text and "live" in text
    action = reverse("quality:pool-action", args=["card-fraud"])
    client.post(action, {"op": "pause", "user_id": ana.pk, "reason": ""})
    assert PoolMembership.objects.get(user=ana).paused_at is None
    client.post(action, {"op": "pause", "user_id": ana.pk, "reason": "Off today"})
    assert PoolMembership.objects.get(user=ana).paused_at is not None
    text = client.get(url).content.decode()
    assert "“Off today” — lee" in text and "Resume ana" in text
    client.post(action, {"op": "resume", "user_id": ana.pk})
    assert PoolMembership.objects.get(user=ana).paused_at is None
    assert client.post(action, {"op": "boom", "user_id": ana.pk}).status_code == 302
    assert client.post(action, {"op": "pause", "user_id": "x"}).status_code == 302
    assert client.get(reverse("quality:pool", args=["nope"])).status_code == 404
    client.force_login(ana)
    assert client.get(url).status_code == 403
    assert client.post(action, {"op": "resume", "user_id": ana.pk}).status_code == 403


# --- API -----------------------------------------------------------------------------------------
def test_api_alerts_and_pause_resume_for_leads(fraud_model, lead_user):
    ana = member(fraud_model, "ana")
    make_items(fraud_model, 1)
    held = review_item_claim_next(user=ana)
    alert = _alert(fraud_model, ana)
    api = api_for(lead_user)
    listed = api.get("/api/v1/quality/alerts").json()
    assert listed["results"][0]["id"] == alert.pk
    assert listed["results"][0]["text"].startswith("ana got 2 of 6")

    bad = api.post(f"/api/v1/quality/alerts/{alert.pk}/resolve", {}, format="json")
    assert bad.status_code == 400 and "note" in bad.json()["errors"]
    done = api.post(f"/api/v1/quality/alerts/{alert.pk}/resolve", {"note": "ok"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    again = api.post(f"/api/v1/quality/alerts/{alert.pk}/resolve", {"note": "ok"}, format="json")
    assert again.status_code == 409
    assert (
        api.post("/api/v1/quality/alerts/999999/resolve", {"note": "x"}, format="json").status_code
        == 404
    )

    base = f"/api/v1/quality/pools/card-fraud/members/{ana.pk}"
    assert api.post(f"{base}/pause", {}, format="json").status_code == 400
    paused = api.post(f"{base}/pause", {"reason": "Check gold"}, format="json")
    assert paused.status_code == 200 and paused.json()["pause_reason"] == "Check gold"
    assert ReviewItem.objects.get(pk=held.pk).claimed_by_id is None
    assert api.post(f"{base}/pause", {"reason": "again"}, format="json").status_code == 409
    assert api.post(f"{base}/resume", format="json").json()["paused_at"] is None
    assert api.post(f"{base}/resume", format="json").status_code == 409
    assert (
        api.post(
            "/api/v1/quality/pools/nope/members/1/pause", {"reason": "x"}, format="json"
        ).status_code
        == 404
    )
    assert (
        api.post(
            "/api/v1/quality/pools/card-fraud/members/999999/pause", {"reason": "x"}, format="json"
        ).status_code
        == 404
    )

    reviewer = api_for(ana)
    assert reviewer.get("/api/v1/quality/alerts").status_code == 403
    assert reviewer.post(f"{base}/pause", {"reason": "x"}, format="json").status_code == 403
    assert (
        reviewer.post(
            f"/api/v1/quality/alerts/{alert.pk}/resolve", {"note": "x"}, format="json"
        ).status_code
        == 403
    )
