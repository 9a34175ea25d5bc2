"""Suggestion masking: routing marks items at the model's rate, the page and the API hide the
model's answer, the reviewer's picked label is recorded as accept or override, and the
automation-bias figures compare agreement with and without the suggestion."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.governance.selectors import review_quality_settings
from reviewapp.governance.services.rollback import change_request_bootstrap
from reviewapp.models import Decision, PoolMembership, Purpose, ReviewItem
from reviewapp.quality.selectors.masking import automation_bias, bias_figures
from reviewapp.selectors.context import masked_reasons
from reviewapp.services import routing
from reviewapp.services.claims import review_item_claim_next
from tests.factories import MLModelFactory, UserFactory, make_policy
from tests.reviewapp import test_queue_fixtures as fx

pytestmark = pytest.mark.django_db
make_items = fx.make_items
pooled_reviewer = fx.pooled_reviewer
other_reviewer = fx.other_reviewer


def set_mask_rate(model, rate: float) -> None:
    change_request_bootstrap(
        model_slug=model.slug,
        kind="review_quality",
        document={"suggestion_mask_rate": rate},
        rationale="tests",
        actor=Actor.system("tests"),
    )


def masked_items(model, n=1, **kw) -> list[ReviewItem]:
    items = make_items(model, n, **kw)
    ReviewItem.objects.filter(pk__in=[i.pk for i in items]).update(suggestion_masked=True)
    return [ReviewItem.objects.get(pk=i.pk) for i in items]


def claim(user) -> ReviewItem:
    return review_item_claim_next(user=user)


# --- routing --------------------------------------------------------------------------------
def test_settings_reader_reads_each_models_active_version_over_the_defaults(fraud_model):
    other = MLModelFactory(slug="other", labels=["a", "b"])
    set_mask_rate(fraud_model, 0.25)
    found = review_quality_settings({"card-fraud", "other"})
    assert found["card-fraud"]["suggestion_mask_rate"] == 0.25
    assert found["other"]["suggestion_mask_rate"] == 0.0  # no version: the default
    assert other.slug in found


def test_routing_masks_no_item_without_a_rate(fraud_model):
    items = make_items(fraud_model, 5)
    assert not any(i.suggestion_masked for i in items)


def test_routing_masks_every_routed_item_at_rate_one(fraud_model):
    set_mask_rate(fraud_model, 1.0)
    items = make_items(fraud_model, 4)
    assert len(items) == 4 and all(i.suggestion_masked for i in items)
    routed = AuditEvent.objects.filter(verb="queue.prediction.routed").latest("id")
    assert sorted(routed.data["masked"]) == sorted(i.prediction_id for i in items)


def test_routing_masks_at_the_models_rate_with_the_seeded_random(fraud_model, monkeypatch):
    set_mask_rate(fraud_model, 0.3)
    draws = iter([0.1, 0.5, 0.29, 0.3, 0.9, 0.0])

    class Forced:
        def random(self):
            return next(draws)

    monkeypatch.setattr(routing, "MASK_RANDOM", Forced())
    items = make_items(fraud_model, 6)
    assert [i.suggestion_masked for i in items] == [True, False, True, False, False, True]


def test_routing_seeded_random_gives_the_expected_share(fraud_model):
    set_mask_rate(fraud_model, 0.5)
    routing.MASK_RANDOM.seed(17)
    items = make_items(fraud_model, 200)
    share = sum(i.suggestion_masked for i in items) / len(items)
    assert 0.38 < share < 0.62


def test_only_routed_items_are_masked(fraud_model, monkeypatch):
    """A prediction that passes (a confident one) makes no routed item; samples made later
    by other paths keep the default (False)."""
    set_mask_rate(fraud_model, 1.0)
    passed = make_items(fraud_model, 2, confidence=0.99)
    assert passed == []  # passed: no review item at all, so nothing to mask
    (routed,) = make_items(fraud_model, 1)
    assert routed.purpose == Purpose.ROUTED and routed.suggestion_masked
    sample = ReviewItem.objects.create(
        prediction=routed.prediction,
        model=fraud_model,
        purpose=Purpose.SHIFT_SAMPLE,
        priority=1,
        sla_due_at=timezone.now() + dt.timedelta(hours=1),
    )
    assert sample.suggestion_masked is False


# --- the service ------------------------------------------------------------------------------
def test_a_picked_label_equal_to_the_models_is_an_accept(pooled_reviewer, fraud_model):
    masked_items(fraud_model, 1, label="fraud")
    item = claim(pooled_reviewer)
    decision = fx.decide(item, pooled_reviewer, "label", label="fraud")
    assert decision.action == Decision.Action.ACCEPT
    assert decision.final_label == "fraud" and decision.suggestion_shown is False
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewItem.Status.DECIDED


def test_a_different_label_is_an_override_and_needs_no_reason(pooled_reviewer, fraud_model):
    masked_items(fraud_model, 1, label="fraud")
    item = claim(pooled_reviewer)
    decision = fx.decide(item, pooled_reviewer, "label", label="legit")
    assert decision.action == Decision.Action.OVERRIDE
    assert decision.final_label == "legit" and decision.predicted_label == "fraud"
    assert decision.final_output["label"] == "legit"
    assert decision.suggestion_shown is False and decision.reason == ""


def test_a_reason_given_with_a_label_is_kept(pooled_reviewer, fraud_model):
    masked_items(fraud_model, 1, label="fraud")
    item = claim(pooled_reviewer)
    decision = fx.decide(item, pooled_reviewer, "label", label="legit", reason="card present")
    assert decision.reason == "card present"


@pytest.mark.parametrize("label", ["", "dog", "  "])
def test_a_missing_or_unknown_label_is_a_400_naming_label(pooled_reviewer, fraud_model, label):
    masked_items(fraud_model, 1)
    item = claim(pooled_reviewer)
    with pytest.raises(ServiceError) as caught:
        fx.decide(item, pooled_reviewer, "label", label=label)
    assert caught.value.status == 400 and set(caught.value.errors) == {"label"}
    assert not Decision.objects.exists()
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewItem.Status.CLAIMED


def test_label_on_an_unmasked_item_is_a_400_naming_action(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    item = claim(pooled_reviewer)
    with pytest.raises(ServiceError) as caught:
        fx.decide(item, pooled_reviewer, "label", label="legit")
    assert caught.value.status == 400 and set(caught.value.errors) == {"action"}
    assert not Decision.objects.exists()


def test_other_actions_on_a_masked_item_work_as_usual(pooled_reviewer, fraud_model):
    masked_items(fraud_model, 2)
    item = claim(pooled_reviewer)
    deferred = fx.decide(item, pooled_reviewer, "defer", note="need the receipt")
    assert deferred.action == Decision.Action.DEFER and deferred.suggestion_shown is False
    item = claim(pooled_reviewer)
    escalated = fx.decide(item, pooled_reviewer, "escalate", note="ask a lead")
    assert escalated.action == Decision.Action.ESCALATE


def test_unmasked_decisions_record_the_suggestion_as_shown(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    decision = fx.decide(claim(pooled_reviewer), pooled_reviewer, "accept")
    assert decision.suggestion_shown is True


# --- the review page ------------------------------------------------------------------------
def review_page(client, user, item) -> str:
    client.force_login(user)
    response = client.get(f"/queue/items/{item.pk}/review/")
    assert response.status_code == 200
    return response.content.decode()


def seed_similar(fraud_model, reviewer):
    """Two decided items: the similar-decisions panel has something to show."""
    make_items(fraud_model, 2, confidence=0.61, prefix="old")
    for _ in range(2):
        fx.decide(claim(reviewer), reviewer, "accept")


def test_the_page_of_an_unmasked_item_shows_the_models_answer(client, pooled_reviewer, fraud_model):
    seed_similar(fraud_model, pooled_reviewer)
    make_items(fraud_model, 1, confidence=0.55, prefix="now", scores_hint=1)
    ReviewItem.objects.filter(prediction__external_id__startswith="now").update(priority=100)
    item = claim(pooled_reviewer)
    body = review_page(client, pooled_reviewer, item)
    assert "Model says" in body and 'class="label-big">fraud<' in body
    assert "0.55" in body and "margin" in body
    assert "Similar past decisions" in body
    assert "Confidence 0.55 below threshold 0.80" in body
    assert 'value="accept"' in body and 'value="label"' not in body
    assert "data-masked" not in body


def test_the_page_of_a_masked_item_hides_label_confidence_scores_and_similar(
    client, pooled_reviewer, fraud_model
):
    seed_similar(fraud_model, pooled_reviewer)
    (item,) = masked_items(fraud_model, 1, confidence=0.55, prefix="now")
    # scores the page would otherwise list
    item.prediction.output = {"label": "fraud", "scores": {"fraud": 0.55, "legit": 0.45}}
    item.prediction.save(update_fields=["output"])
    ReviewItem.objects.filter(pk=item.pk).update(priority=100)
    item = claim(pooled_reviewer)
    assert item.suggestion_masked
    body = review_page(client, pooled_reviewer, item)
    assert "Model's answer hidden" in body and "Pick the label you think is right." in body
    assert "Model says" not in body and "label-big" not in body
    assert "0.55" not in body and "0.45" not in body and "0.80" not in body
    assert "margin" not in body and "Scores" not in body
    assert "Similar past decisions" not in body and "accepted" not in body
    assert "Confidence below threshold" in body  # the reason, without its numbers
    assert 'value="label"' in body and "Submit label" in body
    assert 'value="accept"' not in body and 'value="override"' not in body
    assert "data-masked" in body
    # the model's label is only an option of the picker, never said
    assert body.count(">fraud<") == 0 and "1 · fraud" in body


def test_the_queue_list_hides_a_masked_items_answer_from_reviewers_not_leads(
    client, pooled_reviewer, lead, fraud_model
):
    masked_items(fraud_model, 1, confidence=0.57)
    client.force_login(pooled_reviewer)
    body = client.get("/queue/").content.decode()
    assert "answer hidden" in body and "0.57" not in body
    client.force_login(lead)
    body = client.get("/queue/").content.decode()
    assert "answer hidden" not in body and "0.57" in body


def test_the_item_page_hides_the_answer_until_decided(client, pooled_reviewer, fraud_model):
    (item,) = masked_items(fraud_model, 1, confidence=0.57)
    client.force_login(pooled_reviewer)
    body = client.get(f"/queue/items/{item.pk}/").content.decode()
    assert "hidden on this item until it is decided" in body
    assert "Model said" not in body
    # (its history still lists the routing event's reason with numbers: docs/quality/masking.md)


def test_a_reviewer_outside_the_pool_gets_404(client, fraud_model):
    (item,) = masked_items(fraud_model, 1)
    outsider = UserFactory(username="zed", roles=["reviewer"])
    client.force_login(outsider)
    assert client.get(f"/queue/items/{item.pk}/review/").status_code == 404


def test_submitting_a_label_from_the_page(client, pooled_reviewer, fraud_model):
    masked_items(fraud_model, 1, label="fraud")
    item = claim(pooled_reviewer)
    client.force_login(pooled_reviewer)
    url = f"/queue/items/{item.pk}/decide/"
    bad = client.post(url, {"action": "label", "generation": item.claim_generation})
    assert bad.status_code == 400
    assert "Pick the label you think is right." in bad.content.decode()
    ok = client.post(
        url, {"action": "label", "label": "legit", "generation": item.claim_generation}
    )
    assert ok.status_code == 302
    decision = Decision.objects.get()
    assert decision.action == "override" and decision.suggestion_shown is False


def test_masked_reasons_carry_no_numbers_or_labels():
    words = masked_reasons(["low_confidence", "inconsistent_output", "low_confidence"])
    assert words == ["Confidence below threshold", "Label disagrees with the model's own scores"]


# --- the API ----------------------------------------------------------------------------------
def api_for(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def keys(value, prefix=""):
    """Every key path of a JSON value (lists by their first element)."""
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            out |= {f"{prefix}{k}"} | keys(v, f"{prefix}{k}.")
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return keys(value[0], f"{prefix}[].")
    return set()


def test_api_masked_and_unmasked_items_have_the_same_keys(pooled_reviewer, fraud_model):
    (plain,) = make_items(fraud_model, 1, prefix="plain")
    (masked,) = masked_items(fraud_model, 1, prefix="masked")
    c = api_for(pooled_reviewer)
    a = c.get(f"/api/v1/queue/items/{plain.pk}").json()
    b = c.get(f"/api/v1/queue/items/{masked.pk}").json()
    assert set(a) == set(b) and set(a["prediction"]) == set(b["prediction"])
    assert a["suggestion_masked"] is False and b["suggestion_masked"] is True
    assert a["prediction"]["label"] == "fraud" and a["prediction"]["confidence"] == 0.55
    for key in ("label", "confidence", "threshold"):
        assert b["prediction"][key] is None
    assert b["output"] is None and b["margin"] is None and b["similar_decisions"] == []
    assert b["reasons"] == ["Confidence below threshold"]
    assert b["labels"] == ["fraud", "legit"]
    listed = c.get("/api/v1/queue/items").json()["results"]
    assert [keys(r) for r in listed][0] == [keys(r) for r in listed][1]
    by_id = {r["id"]: r for r in listed}
    assert by_id[masked.pk]["prediction"]["label"] is None
    assert by_id[plain.pk]["prediction"]["label"] == "fraud"


def test_api_decides_a_masked_item_with_a_label(pooled_reviewer, fraud_model):
    masked_items(fraud_model, 1, label="fraud")
    c = api_for(pooled_reviewer)
    claimed = c.post("/api/v1/queue/claim").json()
    assert claimed["suggestion_masked"] is True and claimed["prediction"]["label"] is None
    url = f"/api/v1/queue/items/{claimed['id']}/decide"
    gen = claimed["claim_generation"]
    bad = c.post(url, {"action": "label", "generation": gen, "label": "dog"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"label"}
    ok = c.post(url, {"action": "label", "generation": gen, "label": "fraud"}, format="json")
    assert ok.status_code == 201 and ok.json()["action"] == "accept"
    assert Decision.objects.get().suggestion_shown is False


def test_api_label_on_an_unmasked_item_is_a_400_naming_action(pooled_reviewer, fraud_model):
    make_items(fraud_model, 1)
    c = api_for(pooled_reviewer)
    claimed = c.post("/api/v1/queue/claim").json()
    response = c.post(
        f"/api/v1/queue/items/{claimed['id']}/decide",
        {"action": "label", "generation": claimed["claim_generation"], "label": "legit"},
        format="json",
    )
    assert response.status_code == 400 and set(response.json()["errors"]) == {"action"}


# --- automation bias ---------------------------------------------------------------------------
def test_bias_figures_by_hand():
    # shown: 18 of 20 accept (0.90); masked: 14 of 20 agree (0.70); bias 0.20;
    # se = sqrt(0.9*0.1/20 + 0.7*0.3/20) = sqrt(0.0045 + 0.0105) = sqrt(0.015) = 0.122474
    f = bias_figures(20, 18, 20, 14)
    assert f.shown_rate == pytest.approx(0.9) and f.masked_rate == pytest.approx(0.7)
    assert f.bias == pytest.approx(0.2) and not f.few
    assert f.ci_low == pytest.approx(0.2 - 1.959964 * 0.122474, abs=1e-5)
    assert f.ci_high == pytest.approx(0.2 + 1.959964 * 0.122474, abs=1e-5)
    few = bias_figures(30, 30, 19, 10)
    assert few.few and few.bias == pytest.approx(1 - 10 / 19) and few.ci_low is None
    empty = bias_figures(0, 0, 0, 0)
    assert empty.bias is None and empty.shown_rate is None and empty.few


def _decide_all(model, user, n, *, masked, picks=None, action="accept", prefix):
    items = masked_items(model, n, prefix=prefix) if masked else make_items(model, n, prefix=prefix)
    ReviewItem.objects.filter(pk__in=[i.pk for i in items]).update(priority=100)
    out = []
    for i in range(n):
        item = claim(user)
        if masked:
            out.append(fx.decide(item, user, "label", label=picks[i]))
        elif action == "accept" or i % 2:
            out.append(fx.decide(item, user, "accept"))
        else:
            out.append(fx.decide(item, user, "override", label="legit", reason="r"))
    ReviewItem.objects.filter(pk__in=[i.pk for i in items]).update(priority=0)
    return out


def test_automation_bias_per_reviewer_and_overall(pooled_reviewer, other_reviewer, fraud_model):
    # Not critical: an override on a critical model goes to a blind second review, which would
    # hand ravi ana's overrides to decide (second reviews are no evidence of automation bias).
    fraud_model.criticality = "high"
    fraud_model.save(update_fields=["criticality"])
    # ana: shown 4, all accepted (1.0); masked 4, 2 agree with "fraud" (0.5)
    _decide_all(fraud_model, pooled_reviewer, 4, masked=False, prefix="as")
    _decide_all(
        fraud_model, pooled_reviewer, 4, masked=True,
        picks=["fraud", "legit", "fraud", "legit"], prefix="am",
    )  # fmt: skip
    # ravi: shown 4, 2 accepted (0.5); masked 2, 2 agree (1.0)
    _decide_all(fraud_model, other_reviewer, 4, masked=False, action="mixed", prefix="rs")
    _decide_all(fraud_model, other_reviewer, 2, masked=True, picks=["fraud", "fraud"], prefix="rm")
    # An undone decision, and one on a sample, count nowhere.
    (extra,) = make_items(fraud_model, 1, prefix="undone")
    ReviewItem.objects.filter(pk=extra.pk).update(priority=100)
    undone = fx.decide(claim(pooled_reviewer), pooled_reviewer, "accept")
    Decision.objects.filter(pk=undone.pk).update(undone_at=timezone.now())

    figures = automation_bias(model_id=fraud_model.pk)
    by_name = {r["reviewer"]: r for r in figures["reviewers"]}
    ana, ravi = by_name["ana"], by_name["ravi"]
    assert (ana["shown_n"], ana["shown_agree"], ana["masked_n"], ana["masked_agree"]) == (
        4,
        4,
        4,
        2,
    )
    assert ana["bias"] == pytest.approx(0.5) and ana["few"] and ana["ci_low"] is None
    assert (ravi["shown_n"], ravi["shown_agree"], ravi["masked_n"], ravi["masked_agree"]) == (
        4, 2, 2, 2,
    )  # fmt: skip
    assert ravi["bias"] == pytest.approx(-0.5)
    overall = figures["overall"]
    assert (overall["shown_n"], overall["shown_agree"]) == (8, 6)
    assert (overall["masked_n"], overall["masked_agree"]) == (6, 4)
    assert overall["bias"] == pytest.approx(6 / 8 - 4 / 6)
    only_ana = automation_bias(reviewer_id=pooled_reviewer.pk)
    assert [r["reviewer"] for r in only_ana["reviewers"]] == ["ana"]
    later = automation_bias(since=timezone.now() + dt.timedelta(minutes=1))
    assert later["reviewers"] == [] and later["overall"]["shown_n"] == 0


def test_automation_bias_partial_renders_the_figures(pooled_reviewer, other_reviewer, fraud_model):
    _decide_all(fraud_model, pooled_reviewer, 2, masked=False, prefix="as")
    _decide_all(fraud_model, other_reviewer, 1, masked=True, picks=["legit"], prefix="rm")
    html = render_to_string(
        "quality/_automation_bias.html", {"bias": automation_bias(model_id=fraud_model.pk)}
    )
    assert "ana" in html and "ravi" in html and "Everyone" in html
    assert "100%" in html and "0%" in html and "few" in html
    later = timezone.now() + dt.timedelta(minutes=1)
    empty = render_to_string(
        "quality/_automation_bias.html", {"bias": automation_bias(since=later)}
    )
    assert "No decisions yet" in empty


def test_pool_membership_fixture_sanity(fraud_model, pooled_reviewer):
    assert PoolMembership.objects.filter(user=pooled_reviewer, model=fraud_model).exists()
    assert make_policy  # the policy the fixtures route with
