"""/failsafe/alerts/ and /failsafe/alerts/<id>/: who reads, filters, the acknowledge form."""

from __future__ import annotations

import pytest
from django.utils import timezone

from reviewapp.failsafe.models import Alert, ModeChange
from reviewapp.failsafe.services.acknowledge import alert_acknowledge
from reviewapp.models import PoolMembership
from tests.factories import MLModelFactory, UserFactory

from .alert_helpers import make_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts(fraud_model):
    churn = MLModelFactory(slug="churn")
    return {
        "open": make_alert(fraud_model),
        "resolved": make_alert(
            fraud_model, monitor="ood_rate", state="resolved", resolved_at=timezone.now()
        ),
        "churn": make_alert(churn, monitor="silence", severity="S2", shape="spike"),
    }


def signed_in(client, user):
    client.force_login(user)
    return client


def test_a_lead_sees_every_alert_open_first_with_counts(client, lead, alerts):
    response = signed_in(client, lead).get("/failsafe/alerts/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(f"#{alerts['open'].pk}<") < html.index(f"#{alerts['resolved'].pk}<")
    assert "uncertain rate" in html and "0.42 &gt; 0.15" in html and "model contained" in html
    assert "churn" in html


def test_filters_narrow_the_list_and_a_bad_one_says_so(client, lead, alerts):
    c = signed_in(client, lead)
    html = c.get("/failsafe/alerts/?state=resolved").content.decode()
    assert f"#{alerts['resolved'].pk}<" in html and f"#{alerts['open'].pk}<" not in html
    html = c.get("/failsafe/alerts/?severity=S2").content.decode()
    assert f"#{alerts['churn'].pk}<" in html and f"#{alerts['open'].pk}<" not in html
    html = c.get("/failsafe/alerts/?model=churn").content.decode()
    assert f"#{alerts['churn'].pk}<" in html and f"#{alerts['open'].pk}<" not in html
    response = c.get("/failsafe/alerts/?state=closed&page=x")
    assert response.status_code == 400
    assert "Unknown state" in response.content.decode()


def test_a_reviewer_sees_only_their_pools_alerts(client, alerts, fraud_model):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    c = signed_in(client, ana)
    html = c.get("/failsafe/alerts/").content.decode()
    assert f"#{alerts['open'].pk}<" in html and "churn" not in html
    assert c.get(f"/failsafe/alerts/{alerts['churn'].pk}/").status_code == 404
    page = c.get(f"/failsafe/alerts/{alerts['open'].pk}/")
    assert page.status_code == 200 and b"Acknowledge</button>" not in page.content


def test_a_catalog_editor_gets_the_403_page(client, alerts):
    editor = UserFactory(username="ed", roles=["catalog_editor"])
    assert signed_in(client, editor).get("/failsafe/alerts/").status_code == 403
    assert client.get(f"/failsafe/alerts/{alerts['open'].pk}/").status_code == 403


def test_the_alert_page_shows_rule_episode_mode_change_and_history(
    client, lead, alerts, fraud_model
):
    alert = alerts["open"]
    ModeChange.objects.create(
        model=fraud_model, from_mode="normal", to_mode="contained", reason="uncertain rate shift",
        monitor="uncertain_rate", alert=alert,
    )  # fmt: skip
    engineer = UserFactory(username="sam", roles=["engineer"])
    alert_acknowledge(alert=alert, user=engineer, note="retraining data looks off")
    html = signed_in(client, lead).get(f"/failsafe/alerts/{alert.pk}/").content.decode()
    for text in (
        "uncertain rate: 0.42 &gt; 0.15", "Persistent shift", "30 min past the bound",
        "0.51", "0.47", "normal → <strong>contained</strong>", "uncertain rate shift",
        "Acknowledged by sam", "retraining data looks off", "Alert acknowledged",
    ):  # fmt: skip
        assert text in html, text
    assert "Acknowledge</button>" not in html  # already acknowledged


def test_a_lead_acknowledges_from_the_page(client, lead, alerts):
    alert = alerts["open"]
    c = signed_in(client, lead)
    assert b"Acknowledge</button>" in c.get(f"/failsafe/alerts/{alert.pk}/").content
    response = c.post(f"/failsafe/alerts/{alert.pk}/acknowledge", {"note": "on it"}, follow=True)
    assert response.status_code == 200
    assert "acknowledged: it is yours now" in response.content.decode()
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.acknowledge_note == "on it"
    again = c.post(f"/failsafe/alerts/{alert.pk}/acknowledge", {"note": "me too"})
    assert again.status_code == 409
    assert "already acknowledged (by lee)" in again.content.decode()


def test_a_reviewer_posting_acknowledge_gets_403(client, alerts, fraud_model):
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=fraud_model, user=ana)
    response = signed_in(client, ana).post(f"/failsafe/alerts/{alerts['open'].pk}/acknowledge")
    assert response.status_code == 403
    assert Alert.objects.get(pk=alerts["open"].pk).state == "open"


def test_alerts_are_reached_from_the_fail_safe_overview(client):
    # Alerts belong to the Fail-safe section: its overview links them with the count.
    lead = UserFactory(roles=["lead"])
    client.force_login(lead)
    html = client.get("/failsafe/").content.decode()
    assert 'href="/failsafe/alerts/"' in html and "not resolved" in html
