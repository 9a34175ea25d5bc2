"""What the walk through the fail-safe pages as each role found confusing, fixed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviewapp.failsafe.models import ModeChange
from reviewapp.failsafe.selectors import model_banners
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.failsafe.views.modes import metric_rows
from reviewapp.models import Mode
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_role_refused_gets_a_page_that_says_why_not_a_bare_403(client, fraud_model):
    client.force_login(UserFactory(username="edith", roles=["catalog_editor"]))
    response = client.get(reverse("failsafe:overview"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "This page is not open to you" in body
    assert "catalog_editor" in body and 'href="/"' in body  # their roles, and a way on


def test_an_unknown_page_is_a_page_with_a_way_on(client, fraud_model, lead):
    client.force_login(lead)
    response = client.get(reverse("failsafe:model", args=["no-such-model"]))
    assert response.status_code == 404
    assert "Nothing here" in response.content.decode()


def test_banner_does_not_double_the_reasons_full_stop(fraud_model, lead):
    mode_change(model=fraud_model, mode=Mode.CONTAINED, reason="Upstream rename.", user=lead)
    [banner] = model_banners(model_slugs=["card-fraud"])
    assert "Upstream rename. Every prediction" in banner["text"]
    assert ".." not in banner["text"]


def test_metrics_say_persistent_shift_and_fold_no_data_into_one_line():
    rows, no_data = metric_rows(
        {
            "data-anomalies": {"value": 0.94, "bound": 0.25, "state": "shift"},
            "uncertain-rate": {"value": 0.3, "bound": 0.5, "state": "ok"},
            "silence": {"value": None, "bound": 0.1, "state": "no_data"},
            "open-queue": {"value": None, "bound": 500, "state": "no_data"},
        }
    )
    assert [(r["name"], str(r["word"])) for r in rows] == [
        ("data-anomalies", "persistent shift"),
        ("uncertain-rate", "ok"),
    ]
    assert no_data == ["silence", "open-queue"]


def test_model_page_history_reads_in_words(client, fraud_model, lead):
    ModeChange.objects.create(
        model=fraud_model,
        from_mode="normal",
        to_mode="contained",
        reason="r",
        monitor="data-anomalies",
        metrics={
            "data-anomalies": {"value": 0.94, "bound": 0.25, "state": "shift"},
            "silence": {"value": None, "bound": 0.1, "state": "no_data"},
        },
    )
    client.force_login(lead)
    body = client.get(reverse("failsafe:model", args=["card-fraud"])).content.decode()
    assert "persistent shift" in body and "no_data" not in body
    assert "no data: silence" in body


def test_a_monitors_reason_reads_its_time_as_a_person_writes_it():
    import datetime as dt

    from reviewapp.failsafe.monitors import DEFAULT_MONITORS, SHIFT, MonitorState, rule_of
    from reviewapp.failsafe.services.alerts import _reason

    monitor = dict(next(m for m in DEFAULT_MONITORS if m["name"] == "data-anomalies"))
    since = dt.datetime(2026, 12, 1, 9, 20, tzinfo=dt.UTC)
    text = _reason(
        MonitorState(monitor=monitor, rule=rule_of(monitor), state=SHIFT, value=0.94,
                     since=since, as_of=since)
    )  # fmt: skip
    assert text == (
        "data-anomalies: anomaly_rate > 0.25 for 15 min or longer "
        "(persistent shift since 2026-12-01 09:20 UTC; now 0.94)"
    )
