"""/metrics' fail-safe families (mode, monitor states through the monitors' hook, open alerts)
and the Prometheus alerting rules shipped in docs/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from reviewapp.core import registry
from reviewapp.models import Mode, ModelMode
from tests.factories import MLModelFactory

from .alert_helpers import make_alert

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus-alerts.yml"


def default_monitors() -> list[dict]:
    from reviewapp.failsafe.monitors import DEFAULT_MONITORS

    return [dict(m) for m in DEFAULT_MONITORS]


def fake_monitor_states(*, model):
    if model.slug != "card-fraud":
        return None
    return [
        {
            "name": "uncertain_rate",
            "state": "shift",
            "value": 0.42,
            "bound": 0.15,
            "severity": "S1",
        },
        {"name": "override_rate", "state": "spike", "value": 0.2, "bound": 0.1, "severity": "S2"},
        {"name": "silence", "state": "ok", "value": 0.9, "bound": 0.2, "severity": "S2"},
    ]


@pytest.fixture
def monitors_hook():
    def many(*, models):
        return {m.pk: found for m in models if (found := fake_monitor_states(model=m))}

    registry.register_hook("failsafe.monitor_states_many", many)
    yield
    registry.unregister_hook("failsafe.monitor_states_many", many)


def scrape(client) -> dict:
    with override_settings(METRICS_TOKEN="", METRICS_PUBLIC=True):
        response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def values(family) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


@pytest.mark.django_db
def test_metrics_expose_modes_monitor_states_and_open_alerts(client, fraud_model, monitors_hook):
    churn = MLModelFactory(slug="churn")
    ModelMode.objects.create(model=fraud_model, mode=Mode.CONTAINED, reason="shift")
    make_alert(fraud_model)  # open S1
    make_alert(fraud_model, monitor="override_rate", severity="S2", state="acknowledged")
    make_alert(fraud_model, monitor="ood_rate", severity="S2", state="resolved")

    fam = scrape(client)
    modes = values(fam["failsafe_model_mode"])
    assert modes[(("mode", "contained"), ("model", "card-fraud"))] == 1
    assert modes[(("mode", "normal"), ("model", "card-fraud"))] == 0
    assert modes[(("mode", "normal"), ("model", "churn"))] == 1
    states = values(fam["failsafe_monitor_state"])
    assert states == {
        (("model", "card-fraud"), ("monitor", "uncertain_rate"), ("severity", "S1")): 2,
        (("model", "card-fraud"), ("monitor", "override_rate"), ("severity", "S2")): 1,
        (("model", "card-fraud"), ("monitor", "silence"), ("severity", "S2")): 0,
    }
    assert (
        values(fam["failsafe_monitor_value"])[
            (("model", "card-fraud"), ("monitor", "uncertain_rate"))
        ]
        == 0.42
    )
    assert (
        values(fam["failsafe_monitor_bound"])[
            (("model", "card-fraud"), ("monitor", "uncertain_rate"))
        ]
        == 0.15
    )
    alerts = values(fam["failsafe_alerts_open"])
    assert alerts[(("model", "card-fraud"), ("severity", "S1"))] == 1
    assert alerts[(("model", "card-fraud"), ("severity", "S2"))] == 1  # resolved not counted
    assert alerts[(("model", "churn"), ("severity", "S1"))] == 0
    assert churn


@pytest.mark.django_db
def test_metrics_without_a_monitors_hook_still_answer(client, fraud_model):
    fam = scrape(client)
    assert "failsafe_monitor_state" not in fam or not fam["failsafe_monitor_state"].samples
    assert values(fam["failsafe_model_mode"])[(("mode", "normal"), ("model", "card-fraud"))] == 1


@pytest.mark.django_db
def test_the_fail_safe_families_cost_a_fixed_number_of_queries(
    client, fraud_model, monitors_hook, django_assert_max_num_queries
):
    for i in range(5):
        MLModelFactory(slug=f"m{i}")
    scrape(client)  # warm up
    with django_assert_max_num_queries(12):
        scrape(client)


@pytest.mark.django_db
def test_every_metric_a_rule_reads_is_exposed(client, fraud_model, monitors_hook):
    """A rule over a metric that /metrics does not serve would never fire."""
    doc = yaml.safe_load(RULES.read_text())
    named = set()
    for group in doc["groups"]:
        for rule in group["rules"]:
            text = rule["expr"] + json.dumps(rule.get("annotations", {}))
            named |= set(re.findall(r"\bfailsafe_[a-z_]+", text))
    assert {"failsafe_inbox_oldest_age_seconds", "failsafe_inbox_waiting"} <= named
    assert named <= set(scrape(client))


def test_every_default_monitor_has_a_prometheus_rule():
    doc = yaml.safe_load(RULES.read_text())
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "annotations"}, rule
        assert rule["alert"].startswith("Failsafe")
    by_monitor = {rule.get("labels", {}).get("monitor"): rule for rule in rules}
    for monitor in default_monitors():
        name = monitor["name"]
        rule = by_monitor.get(name)
        assert rule is not None, f"no Prometheus rule for the default monitor {name}"
        assert f'monitor="{name}"' in rule["expr"] and "failsafe_monitor_bound" in rule["expr"]
        # Past the bound for the monitor's duration: a persistent shift, as in the app.
        assert rule["for"] == f"{monitor['duration_minutes']}m", name
        assert rule["labels"]["shape"] == "shift"
    assert len({rule["alert"] for rule in rules}) == len(rules)
