"""The fail-safe pages: overview, a model's page with its history, the switch pages; who
may open and post each."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.core.models import AuditEvent
from reviewapp.failsafe.models import Alert, ModeChange
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.models import Mode, ModelMode, PoolMembership
from tests.factories import MLModelFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pooled(fraud_model):
    user = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=user)
    return user


@pytest.fixture
def other_model(db):
    return MLModelFactory(slug="churn", labels=["stay", "leave"])


def page(name, slug="card-fraud"):
    return reverse(f"failsafe:{name}", args=[slug])


def contained(model, lead, reason="Uncertain rate doubled after the 14:00 deploy"):
    return mode_change(model=model, mode=Mode.CONTAINED, reason=reason, user=lead)


# --- who reads -------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["lead", "engineer", "committee", "reviewer"])
def test_readers_open_the_overview(client, fraud_model, role):
    client.force_login(UserFactory(username=f"u-{role}", roles=[role]))
    assert client.get(reverse("failsafe:overview")).status_code == 200


@pytest.mark.parametrize(
    ("role", "dashboard", "queue", "contain"),
    [
        ("lead", True, True, True),
        ("engineer", True, True, False),
        ("committee", True, False, False),
        ("reviewer", False, True, False),
    ],
)
def test_overview_links_only_the_pages_the_role_opens(
    client, fraud_model, role, dashboard, queue, contain
):
    user = UserFactory(username=f"u-{role}", roles=[role])
    PoolMembership.objects.create(model=fraud_model, user=user)
    client.force_login(user)
    body = client.get(reverse("failsafe:overview")).content.decode()
    assert (reverse("dashboards:model", args=["card-fraud"]) in body) is dashboard
    assert (reverse("queue:list") + "?model=card-fraud" in body) is queue
    assert (page("contain") in body) is contain


def test_catalog_editor_gets_403(client, fraud_model):
    client.force_login(UserFactory(username="ed", roles=["catalog_editor"]))
    assert client.get(reverse("failsafe:overview")).status_code == 403
    assert client.get(page("model")).status_code == 403


def test_anonymous_is_sent_to_sign_in(client, fraud_model):
    response = client.get(page("model"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_reviewer_sees_only_their_pools_models_and_no_actions(
    client, fraud_model, other_model, pooled
):
    client.force_login(pooled)
    body = client.get(reverse("failsafe:overview")).content.decode()
    assert "card-fraud" in body and "churn" not in body
    assert client.get(page("model", "churn")).status_code == 404
    response = client.get(page("model"))
    assert response.status_code == 200
    assert page("contain") not in response.content.decode()
    assert client.get(page("contain")).status_code == 403


def test_lead_sees_contain_and_halt_on_a_normal_model(client, fraud_model, lead):
    client.force_login(lead)
    body = client.get(page("model")).content.decode()
    assert page("contain") in body and page("halt") in body
    assert page("lift") not in body and page("extend") not in body


@pytest.mark.parametrize("action", ["contain", "halt", "lift", "extend"])
@pytest.mark.parametrize("role", ["engineer", "committee", "reviewer"])
def test_non_leads_posting_get_the_403_page(client, fraud_model, lead, action, role):
    if action in ("lift", "extend"):
        contained(fraud_model, lead)
    user = UserFactory(username=f"u-{role}", roles=[role])
    PoolMembership.objects.create(model=fraud_model, user=user)
    client.force_login(user)
    before = ModeChange.objects.count()
    response = client.post(page(action), {"reason": "x", "note": "x"})
    assert response.status_code == 403
    assert ModeChange.objects.count() == before


# --- switching -------------------------------------------------------------------------------
def test_contain_page_shows_the_preview_and_defaults(client, fraud_model, lead, settings):
    settings.FAILSAFE_CONTAINMENT_REVIEW_HOURS = 4
    client.force_login(lead)
    response = client.get(page("contain"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="preview"' in body
    assert "never at this throughput" in body
    expected = timezone.localtime(timezone.now() + dt.timedelta(hours=4)).strftime("%Y-%m-%dT%H")
    assert f'value="{expected}' in body
    assert 'name="sample_rate"' not in body
    assert body.count("In your time zone") == 1  # named once, with the zone: "(UTC)"
    assert "In your time zone (UTC)." in body


def test_halt_page_asks_the_sample_share(client, fraud_model, lead, settings):
    settings.FAILSAFE_HALTED_SAMPLE_RATE = 0.1
    client.force_login(lead)
    body = client.get(page("halt")).content.decode()
    assert 'name="sample_rate"' in body and 'value="0.1"' in body


def test_contain_needs_a_reason(client, fraud_model, lead):
    client.force_login(lead)
    response = client.post(page("contain"), {"reason": "  "})
    assert response.status_code == 400
    assert "a reason is required" in response.content.decode()
    assert not ModelMode.objects.filter(model=fraud_model).exists()


def test_lead_contains_then_history_and_audit_record_it(client, fraud_model, lead):
    client.force_login(lead)
    review_by = (timezone.localtime() + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        page("contain"), {"reason": "Override rate tripled", "review_by": review_by}
    )
    assert response.status_code == 302 and response["Location"] == page("model")
    row = ModelMode.objects.get(model=fraud_model)
    assert (row.mode, row.reason, row.set_by, row.owner) == (
        "contained",
        "Override rate tripled",
        lead,
        lead,
    )
    assert timezone.localtime(row.review_by).strftime("%Y-%m-%dT%H:%M") == review_by
    assert AuditEvent.objects.filter(verb="failsafe.model_mode.changed").count() == 1
    body = client.get(page("model")).content.decode()
    assert "Override rate tripled" in body and "Mode history" in body
    assert page("lift") in body and page("extend") in body


def test_halt_stores_the_sample_share(client, fraud_model, lead):
    client.force_login(lead)
    response = client.post(page("halt"), {"reason": "Serving garbage", "sample_rate": "0.25"})
    assert response.status_code == 302
    row = ModelMode.objects.get(model=fraud_model)
    assert (row.mode, row.sample_rate) == ("halted", 0.25)


def test_review_by_in_the_past_is_refused_on_the_field(client, fraud_model, lead):
    client.force_login(lead)
    past = (timezone.localtime() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(page("contain"), {"reason": "x", "review_by": past})
    assert response.status_code == 400
    assert response.context["form"].errors["review_by"]
    assert not ModelMode.objects.filter(model=fraud_model).exists()


def test_containing_a_contained_model_is_a_409_beside_the_form(client, fraud_model, lead):
    contained(fraud_model, lead)
    client.force_login(lead)
    # The page says so instead of offering the form...
    assert "already contained" in client.get(page("contain")).content.decode()
    # ... and a post from an old tab is the service's 409.
    response = client.post(page("contain"), {"reason": "again"})
    assert response.status_code == 409
    assert "already contained" in response.content.decode()
    assert ModeChange.objects.count() == 1


def test_lift_needs_a_note(client, fraud_model, lead):
    contained(fraud_model, lead)
    client.force_login(lead)
    response = client.post(page("lift"), {"note": ""})
    assert response.status_code == 400
    assert "Write a note" in response.content.decode()
    assert ModelMode.objects.get(model=fraud_model).mode == "contained"


def test_lead_lifts_with_a_note(client, fraud_model, lead):
    contained(fraud_model, lead)
    client.force_login(lead)
    response = client.post(page("lift"), {"note": "Rolled back the deploy; rates normal"})
    assert response.status_code == 302
    assert ModelMode.objects.get(model=fraud_model).mode == "normal"
    changes = list(ModeChange.objects.filter(model=fraud_model))
    assert [(c.from_mode, c.to_mode) for c in changes] == [
        ("contained", "normal"),
        ("normal", "contained"),
    ]


def test_lifting_an_automatic_stop_names_and_links_the_alert(client, fraud_model, lead):
    alert = Alert.objects.create(
        model=fraud_model,
        monitor="uncertain_rate",
        rule={"metric": "uncertain_rate", "op": ">", "bound": 0.3, "duration_minutes": 30},
        severity="S2",
        shape="shift",
        since=timezone.now() - dt.timedelta(minutes=40),
    )
    mode_change(
        model=fraud_model,
        mode=Mode.CONTAINED,
        reason="uncertain_rate above 0.3 for 30 min",
        monitor="uncertain_rate",
        rule=alert.rule,
        alert=alert,
        metrics={"uncertain_rate": {"value": 0.41, "bound": 0.3, "state": "firing"}},
    )
    client.force_login(lead)
    path = f"/failsafe/alerts/{alert.pk}/"
    get = client.get(page("lift")).content.decode()
    assert path in get and f"alert #{alert.pk}" in get
    response = client.post(page("lift"), {"note": "looks fine"})
    assert response.status_code == 409
    body = response.content.decode()
    assert f"acknowledge alert #{alert.pk}" in body and path in body
    assert ModelMode.objects.get(model=fraud_model).mode == "contained"
    # The model page names the monitor, its rule and the recorded metric values.
    model_body = client.get(page("model")).content.decode()
    assert "monitor uncertain_rate" in model_body
    assert "0.41" in model_body and path in model_body


def test_extend_moves_the_review_by_time(client, fraud_model, lead):
    contained(fraud_model, lead)
    client.force_login(lead)
    later = (timezone.localtime() + dt.timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(page("extend"), {"review_by": later, "note": "waiting on vendor"})
    assert response.status_code == 302
    row = ModelMode.objects.get(model=fraud_model)
    assert timezone.localtime(row.review_by).strftime("%Y-%m-%dT%H:%M") == later


def test_overview_marks_an_overdue_review_in_red(client, fraud_model, lead):
    contained(fraud_model, lead)
    ModelMode.objects.filter(model=fraud_model).update(
        review_by=timezone.now() - dt.timedelta(minutes=5)
    )
    client.force_login(lead)
    body = client.get(reverse("failsafe:overview")).content.decode()
    assert 'class="badge red">overdue' in body
    assert "Uncertain rate doubled" in body


def test_unknown_model_is_404(client, lead):
    client.force_login(lead)
    assert client.get(page("model", "nope")).status_code == 404
    assert client.post(page("contain", "nope"), {"reason": "x"}).status_code == 404


def test_nav_shows_the_section(client, fraud_model, lead):
    client.force_login(lead)
    body = client.get(reverse("failsafe:overview")).content.decode()
    assert 'aria-current="page" class="current">Fail-safe' in body
