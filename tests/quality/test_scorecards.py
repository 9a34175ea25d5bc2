"""Reviewer scorecards: the figures on scripted reviewers, who may read whose, the pages and
the API for each role."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from reviewapp.core import clock
from reviewapp.models import Decision, PoolMembership
from reviewapp.quality.models import QualityAlert
from reviewapp.quality.selectors import scorecards as sel
from tests.factories import MLModelFactory, UserFactory

from . import scorecard_builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(fraud_model):
    people = {
        "stamp": UserFactory(username="stamp", roles=["reviewer"]),
        "sharp": UserFactory(username="sharp", roles=["reviewer"]),
        "outside": UserFactory(username="outside", roles=["reviewer"]),
        "lee": UserFactory(username="lee", roles=["lead"]),
        "sam": UserFactory(username="sam", roles=["engineer"]),
        "cora": UserFactory(username="cora", roles=["committee"]),
    }
    for name in ("stamp", "sharp"):
        PoolMembership.objects.create(model=fraud_model, user=people[name])
    return people


def script(fraud_model, team):
    """ "stamp" accepts everything in 2 seconds; "sharp" is always right in 40.

    The model is wrong on 4 adversarial gold items (it says fraud, the answer is legit) and
    right on 2 (fraud, fraud); 3 second reviews where the two disagreed were adjudicated
    against the model; 10 routed items each, where the model says fraud and is right on half.
    """
    stamp, sharp, lee = team["stamp"], team["sharp"], team["lee"]
    wrong = [b.gold(fraud_model, lee, label="legit", model_label="fraud") for _ in range(4)]
    right = [b.gold(fraud_model, lee, label="fraud", model_label="fraud") for _ in range(2)]
    for g in wrong + right:
        b.serve_and_answer(g, stamp, g.model_label, seconds=2)
        b.serve_and_answer(g, sharp, g.label, seconds=40)
    for _ in range(3):
        b.second_review(
            fraud_model, stamp, "fraud", sharp, "legit",
            model_label="fraud", final_label="legit", lead=lee,
        )  # fmt: skip
    for i in range(10):
        truth = "fraud" if i % 2 else "legit"
        b.decide(b.item(b.prediction(fraud_model, "fraud")), stamp, "fraud", seconds=2)
        b.decide(b.item(b.prediction(fraud_model, "fraud")), sharp, truth, seconds=40 + i)


def test_rubber_stamp_index_is_one_for_who_accepts_everything_and_zero_for_who_is_right(
    fraud_model, team
):
    script(fraud_model, team)
    stamp = sel.scorecard(reviewer=team["stamp"])
    sharp = sel.scorecard(reviewer=team["sharp"])
    # 4 adversarial gold + 3 adjudications against the model: 7 known-wrong cases each
    assert (stamp.rubber_stamp_gold, stamp.rubber_stamp_adjudicated) == (4, 3)
    assert stamp.rubber_stamp.value == 1.0 and stamp.rubber_stamp.n == 7
    assert sharp.rubber_stamp.value == 0.0 and sharp.rubber_stamp.n == 7
    assert stamp.rubber_stamp.few  # 7 cases: shown, marked few
    assert stamp.rubber_stamp.low < 1.0 == stamp.rubber_stamp.high
    assert sharp.rubber_stamp.low == 0.0 < sharp.rubber_stamp.high


def test_gold_accuracy_agreement_overrides_and_speed(fraud_model, team):
    script(fraud_model, team)
    stamp = sel.scorecard(reviewer=team["stamp"])
    sharp = sel.scorecard(reviewer=team["sharp"])
    # gold: stamp right only where the model was (2 of 6); sharp 6 of 6
    assert (stamp.gold.value, stamp.gold.n) == (pytest.approx(2 / 6), 6)
    assert (sharp.gold.value, sharp.gold.n) == (1.0, 6)
    assert stamp.gold.low < stamp.gold.value < stamp.gold.high
    assert stamp.qualification.n == 0 and stamp.qualification.value is None
    # peers: the 3 second reviews all disagreed
    assert (stamp.peer_agreement.value, stamp.peer_agreement.n) == (0.0, 3)
    # live decisions: 10 routed + 3 second-review pair decisions each (gold not counted)
    assert stamp.decisions == 13 and sharp.decisions == 13
    assert stamp.override_share.value == 0.0
    # sharp overrode 5 routed + 3 second reviews (legit vs the model's fraud) of 13
    assert sharp.override_share.value == pytest.approx(8 / 13)
    # peers on the same models: everyone else (sharp's 8 of 13, the lead's answers
    # on the 6 gold sources 4 of 6 overrides;
    # the lead's adjudicated answers are not a peer's decisions)
    assert (stamp.peer_override_share.value, stamp.peer_override_share.n) == (
        pytest.approx(12 / 19),
        19,
    )
    assert stamp.median_seconds == 2.0  # 10 routed in 2 s, 3 pair decisions in 30 s
    assert sharp.median_seconds == 43.0  # 30, 30, 30, 40 … 49: the 7th of 13
    assert stamp.p10_seconds <= stamp.median_seconds


def test_seconds_are_live_items_claim_to_decision(fraud_model, team):
    sharp = team["sharp"]
    for s in (10, 20, 30, 40, 50):
        b.decide(b.item(b.prediction(fraud_model, "fraud")), sharp, "fraud", seconds=s)
    g = b.gold(fraud_model, team["lee"], label="fraud", model_label="fraud")
    b.serve_and_answer(g, sharp, "fraud", seconds=1)  # gold: not in the timing
    card = sel.scorecard(reviewer=sharp)
    assert card.median_seconds == 30.0 and card.timed == 5
    assert card.p10_seconds == pytest.approx(14.0)  # linear: 10 + 0.4·(20 − 10)


def test_qualification_is_shown_apart_from_gold(fraud_model, team):
    g1 = b.gold(fraud_model, team["lee"], label="legit", model_label="fraud")
    g2 = b.gold(fraud_model, team["lee"], label="fraud", model_label="fraud")
    b.serve_and_answer(g1, team["sharp"], "fraud", qualification=True)
    b.serve_and_answer(g2, team["sharp"], "fraud", qualification=True)
    card = sel.scorecard(reviewer=team["sharp"])
    assert card.gold.n == 0
    assert (card.qualification.value, card.qualification.n) == (0.5, 2)


def test_weekly_trend_has_eight_weeks_oldest_first(fraud_model, team):
    sharp = team["sharp"]
    now = clock.now()
    b.decide(b.item(b.prediction(fraud_model, "fraud")), sharp, "legit", at=now, seconds=20)
    b.decide(
        b.item(b.prediction(fraud_model, "fraud")),
        sharp,
        "fraud",
        at=now - dt.timedelta(weeks=3),
        seconds=60,
    )
    b.decide(
        b.item(b.prediction(fraud_model, "fraud")),
        sharp,
        "fraud",
        at=now - dt.timedelta(weeks=12),
    )  # outside the 8 weeks
    weeks = sel.scorecard(reviewer=sharp, now=now).weeks
    assert len(weeks) == 8
    assert [w["week"] for w in weeks] == sorted(w["week"] for w in weeks)
    assert weeks[-1]["decisions"] == 1 and weeks[-1]["override_share"] == 1.0
    assert weeks[-1]["median_seconds"] == 20.0
    assert weeks[-4]["decisions"] == 1 and weeks[-4]["override_share"] == 0.0
    assert sum(w["decisions"] for w in weeks) == 2


def test_undone_decisions_count_nowhere(fraud_model, team):
    b.decide(b.item(b.prediction(fraud_model, "fraud")), team["sharp"], "legit", undone=True)
    card = sel.scorecard(reviewer=team["sharp"])
    assert card.decisions == 0 and card.override_share.n == 0


def test_open_alerts_are_counted(fraud_model, team):
    QualityAlert.objects.create(kind="fast_accept", reviewer=team["stamp"], model=fraud_model)
    assert sel.scorecard(reviewer=team["stamp"]).open_alerts == 1
    assert sel.scorecard(reviewer=team["sharp"]).open_alerts == 0


def test_automation_bias_placeholder_or_the_masking_figures(fraud_model, team):
    card = sel.scorecard(reviewer=team["sharp"])
    import importlib.util

    if importlib.util.find_spec(sel.MASKING_MODULE) is None:
        assert card.automation_bias is None
    else:
        assert isinstance(card.automation_bias, dict)


# --- who reads whose --------------------------------------------------------------------------
def test_may_read_scorecard(team):
    stamp, sharp, lee = team["stamp"], team["sharp"], team["lee"]
    assert sel.may_read_scorecard(stamp, stamp.pk)
    assert not sel.may_read_scorecard(stamp, sharp.pk)
    assert sel.may_read_scorecard(lee, stamp.pk)
    assert not sel.may_read_scorecard(team["sam"], stamp.pk)
    assert not sel.may_read_scorecard(team["cora"], stamp.pk)


def _client(user):
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c


def test_overview_page_for_each_role(fraud_model, team):
    script(fraud_model, team)
    url = reverse("quality:overview")
    lead_page = _client(team["lee"]).get(url)
    assert lead_page.status_code == 200
    body = lead_page.content.decode()
    assert "Agreement between reviewers" in body and 'data-model="card-fraud"' in body
    assert 'data-reviewer="stamp"' in body  # the reviewers table, for leads
    assert reverse("quality:reviewer-scorecard", args=[team["stamp"].pk]) in body
    assert "n=6" in body  # figures carry their n
    for who in ("sam", "cora"):
        page = _client(team[who]).get(url)
        assert page.status_code == 200
        assert 'data-model="card-fraud"' in page.content.decode()
        assert 'data-reviewer="stamp"' not in page.content.decode()  # leads only
    # A reviewer is sent to their own scorecard.
    mine = _client(team["stamp"]).get(url)
    assert mine.status_code == 302 and mine["Location"] == reverse("quality:my-scorecard")
    assert _client(team["lee"]).get(url, {"days": "abc"}).status_code == 400
    assert _client(team["lee"]).get(url, {"model": "nope"}).status_code == 400


def test_scorecard_pages_reviewer_own_lead_any_others_404(fraud_model, team):
    script(fraud_model, team)
    stamp, sharp = team["stamp"], team["sharp"]
    own = _client(stamp).get(reverse("quality:reviewer-scorecard", args=[stamp.pk]))
    assert own.status_code == 200
    body = own.content.decode()
    assert "My scorecard" in body and "Rubber-stamp index" in body
    assert "1.00 (" in body and "n=7" in body  # the rubber-stamp index with its interval
    assert "Lower is better" in body and "Higher is better" in body
    assert _client(stamp).get(reverse("quality:my-scorecard")).status_code == 200
    assert (
        _client(stamp).get(reverse("quality:reviewer-scorecard", args=[sharp.pk])).status_code
        == 404
    )
    for who in ("sam", "cora", "outside"):
        page = _client(team[who]).get(reverse("quality:reviewer-scorecard", args=[stamp.pk]))
        assert page.status_code == 404
    lead = _client(team["lee"]).get(reverse("quality:reviewer-scorecard", args=[stamp.pk]))
    assert lead.status_code == 200 and "Scorecard:" in lead.content.decode()
    assert (
        _client(team["lee"]).get(reverse("quality:reviewer-scorecard", args=[999999])).status_code
        == 404
    )
    assert (
        _client(team["lee"]).get(reverse("quality:reviewer-scorecard", args=[2**40])).status_code
        == 404
    )
    filtered = _client(team["lee"]).get(
        reverse("quality:reviewer-scorecard", args=[stamp.pk]), {"model": "card-fraud", "days": 7}
    )
    assert filtered.status_code == 200


def test_own_scorecard_with_nothing_yet(team):
    page = _client(team["outside"]).get(reverse("quality:my-scorecard"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "no data (n=0)" in body
    assert "Automation bias" in body


# --- the API ----------------------------------------------------------------------------------
def _api(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


def test_agreement_api(fraud_model, team):
    script(fraud_model, team)
    r = _api(team["lee"]).get("/api/v1/quality/agreement", {"model": "card-fraud", "days": 30})
    assert r.status_code == 200
    (m,) = r.json()["models"]
    assert m["model"] == "card-fraud" and set(m["kappa"]) == {"value", "low", "high", "n", "few"}
    assert m["kappa"]["n"] == 3
    assert _api(team["lee"]).get("/api/v1/quality/agreement", {"days": "0"}).status_code == 400
    assert _api(team["lee"]).get("/api/v1/quality/agreement", {"model": "x"}).status_code == 400
    # a reviewer outside the model's pool: the model is unknown to them
    outside = _api(team["outside"]).get("/api/v1/quality/agreement", {"model": "card-fraud"})
    assert outside.status_code == 400
    assert _api(team["outside"]).get("/api/v1/quality/agreement").json()["models"] == []


def test_scorecard_api_permissions(fraud_model, team, api):
    script(fraud_model, team)
    stamp, sharp = team["stamp"], team["sharp"]
    url = f"/api/v1/quality/reviewers/{stamp.pk}/scorecard"
    own = _api(stamp).get(url)
    assert own.status_code == 200
    data = own.json()
    assert data["rubber_stamp_index"]["value"] == 1.0 and data["rubber_stamp_index"]["n"] == 7
    assert len(data["weeks"]) == 8
    assert _api(team["lee"]).get(url).status_code == 200
    assert _api(sharp).get(url).status_code == 404
    assert _api(team["sam"]).get(url).status_code == 404
    assert _api(team["lee"]).get("/api/v1/quality/reviewers/999999/scorecard").status_code == 404
    assert _api(team["lee"]).get(url, {"days": "x"}).status_code == 400
    assert api.get(url).status_code == 403  # a service token


def test_nav_quality_section_and_my_scorecard_tool(team):
    from django.test import RequestFactory

    from reviewapp.core.context_processors import navigation

    def nav(user):
        request = RequestFactory().get("/")
        request.user = user
        request.resolver_match = None
        return navigation(request)

    for who in ("lee", "sam", "cora"):
        assert "quality" in [s["key"] for s in nav(team[who])["nav_sections"]]
    reviewer_nav = nav(team["stamp"])
    assert "quality" not in [s["key"] for s in reviewer_nav["nav_sections"]]
    assert "My scorecard" in [str(t["label"]) for t in reviewer_nav["nav_tools"]]


def test_overview_query_count_is_bounded(fraud_model, team, django_assert_max_num_queries):
    script(fraud_model, team)
    for i in range(3):
        MLModelFactory(slug=f"extra-{i}", labels=["a", "b"])
    with django_assert_max_num_queries(80):
        sel.overview_rows()
    assert Decision.objects.exists()
