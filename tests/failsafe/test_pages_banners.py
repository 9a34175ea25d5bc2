"""The banner every page about a contained or halted model shows (core's model_banners
hook, registered by the fail-safe app), and the dashboards page's "Contain…" link."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviewapp.core import registry
from reviewapp.core.templatetags.model_banners import banners_for, slugs_of
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.models import Mode, PoolMembership
from tests.factories import MLModelFactory, UserFactory, make_policy
from tests.governance.cr_helpers import submitted
from tests.reviewapp.test_queue_fixtures import make_items

pytestmark = pytest.mark.django_db

CONTAINED = "Card Fraud is CONTAINED"
REASON = "Override rate tripled after the 14:00 deploy"


@pytest.fixture
def pooled(fraud_model):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


@pytest.fixture
def contained(fraud_model, lead):
    return mode_change(model=fraud_model, mode=Mode.CONTAINED, reason=REASON, user=lead)


def _banner(body: str) -> bool:
    return 'data-testid="model-banner"' in body and CONTAINED in body and REASON in body


def test_the_banner_says_who_why_and_what_it_means(fraud_model, lead, contained):
    (banner,) = banners_for(["card-fraud", "nope"])
    assert banner["title"] == CONTAINED
    assert "by lee: " + REASON in banner["text"]
    assert "Every prediction is reviewed; producers serve the fallback." in banner["text"]
    assert banner["link"] == reverse("failsafe:model", args=["card-fraud"])


def test_halted_wording_names_the_sampled_share(fraud_model, lead):
    mode_change(
        model=fraud_model, mode=Mode.HALTED, reason="garbage out", user=lead, sample_rate=0.1
    )
    (banner,) = banners_for(["card-fraud"])
    assert banner["title"] == "Card Fraud is HALTED" and banner["tone"] == "red"
    assert "producers serve the fallback; 10 % of its predictions are sampled" in banner["text"]


def test_no_banner_in_normal_mode(fraud_model, lead, contained):
    mode_change(model=fraud_model, mode=Mode.NORMAL, reason="fixed", user=lead)
    assert banners_for(["card-fraud"]) == []


def test_core_tag_accepts_a_slug_models_or_a_list():
    class M:
        slug = "b"

    assert slugs_of("a") == ["a"]
    assert slugs_of(M()) == ["b"]
    assert slugs_of(["a", M(), "a"]) == ["a", "b"]
    assert slugs_of(None) == []


def test_core_runs_whatever_app_registered_the_hook(db):
    def fake(*, model_slugs):
        return [{"tone": "blue", "title": "T", "text": "x", "link": "", "model_slug": s}
                for s in model_slugs]  # fmt: skip

    registry.register_hook("core.model_banners", fake)
    try:
        assert [b["title"] for b in banners_for(["m1"])] == ["T"]
    finally:
        registry.unregister_hook("core.model_banners", fake)


def test_queue_list_shows_the_banner(client, fraud_model, pooled, contained):
    client.force_login(pooled)
    assert _banner(client.get(reverse("queue:list")).content.decode())
    assert _banner(client.get(reverse("queue:list") + "?model=card-fraud").content.decode())


def test_queue_list_filtered_on_another_model_shows_none(client, fraud_model, lead, contained):
    MLModelFactory(slug="churn")
    client.force_login(lead)
    body = client.get(reverse("queue:list") + "?model=churn").content.decode()
    assert CONTAINED not in body


def test_review_page_shows_the_banner_to_the_reviewer(client, fraud_model, pooled, lead):
    (item,) = make_items(fraud_model)
    mode_change(model=fraud_model, mode=Mode.CONTAINED, reason=REASON, user=lead)
    client.force_login(pooled)
    body = client.get(reverse("queue:review", args=[item.pk])).content.decode()
    assert _banner(body)
    assert reverse("failsafe:model", args=["card-fraud"]) in body
    assert _banner(client.get(reverse("queue:item", args=[item.pk])).content.decode())


def test_dashboards_model_page_shows_banner_and_contain_link(client, fraud_model, lead):
    client.force_login(lead)
    url = reverse("dashboards:model", args=["card-fraud"])
    body = client.get(url).content.decode()
    assert reverse("failsafe:contain", args=["card-fraud"]) in body
    assert CONTAINED not in body
    mode_change(model=fraud_model, mode=Mode.CONTAINED, reason=REASON, user=lead)
    body = client.get(url).content.decode()
    assert _banner(body)
    assert reverse("failsafe:contain", args=["card-fraud"]) not in body


def test_dashboards_page_offers_no_contain_to_an_engineer(client, fraud_model, engineer):
    client.force_login(engineer)
    body = client.get(reverse("dashboards:model", args=["card-fraud"])).content.decode()
    assert reverse("failsafe:contain", args=["card-fraud"]) not in body
    assert reverse("failsafe:model", args=["card-fraud"]) in body


def test_governance_request_and_policy_pages_show_the_banner(client, fraud_model, lead):
    engineer = UserFactory(username="sam", roles=["engineer"])
    cr, _digest = submitted(fraud_model, engineer)
    mode_change(model=fraud_model, mode=Mode.CONTAINED, reason=REASON, user=lead)
    client.force_login(lead)
    assert _banner(client.get(reverse("governance:request", args=[cr.pk])).content.decode())
    for name in ("model-policy", "policy-history"):
        body = client.get(reverse(f"governance:{name}", args=["card-fraud"])).content.decode()
        assert _banner(body), name


def test_other_models_pages_show_no_banner(client, fraud_model, lead, contained):
    make_policy(MLModelFactory(slug="churn"))
    client.force_login(lead)
    body = client.get(reverse("dashboards:model", args=["churn"])).content.decode()
    assert 'data-testid="model-banner"' not in body
