from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from reviewapp.dashboards.services import rollups_fold
from reviewapp.dashboards.stats import TTD_EDGES_SECONDS
from reviewapp.models import Decision

from .conftest import make_item, make_prediction, reviewed

pytestmark = pytest.mark.django_db


def scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    return families


def samples(family, name=None, **labels):
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in family.samples
        if (name is None or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items())
    }


def value(family, name, **labels):
    found = samples(family, name, **labels)
    assert len(found) == 1, found
    return next(iter(found.values()))


def test_metrics_url_is_at_the_site_root():
    assert reverse("metrics") == "/metrics"


def test_metrics_parse_back_with_the_core_figures(client, model_a, model_b, ana):
    now = timezone.now()
    t = now - dt.timedelta(hours=2)
    for i in range(10):
        make_prediction(model_a, received_at=t, routed=i < 4)
    reviewed(model_a, ana, received_at=t, after=dt.timedelta(seconds=20))
    reviewed(
        model_a, ana, received_at=t, after=dt.timedelta(minutes=30), action=Decision.Action.OVERRIDE
    )
    breached = make_item(make_prediction(model_a, received_at=t))
    breached.sla_breached_at = t + dt.timedelta(minutes=61)
    breached.save(update_fields=["sla_breached_at"])
    rollups_fold(now=now)

    fam = scrape(client)
    a = {"model": "card-fraud"}
    # 3 open items (2 reviewed but still pending in this fixture + 1 breached).
    assert value(fam["failsafe_queue_length"], "failsafe_queue_length", **a) == 3
    assert value(
        fam["failsafe_oldest_pending_age_seconds"], "failsafe_oldest_pending_age_seconds", **a
    ) == pytest.approx(7200, abs=60)
    assert value(fam["failsafe_ingested"], "failsafe_ingested_total", **a) == 13
    assert value(fam["failsafe_routed"], "failsafe_routed_total", **a) == 7
    assert value(fam["failsafe_decided"], "failsafe_decided_total", **a) == 2
    assert value(fam["failsafe_overridden"], "failsafe_overridden_total", **a) == 1
    assert value(fam["failsafe_sla_breaches"], "failsafe_sla_breaches_total", **a) == 1
    assert fam["failsafe_ingested"].type == "counter"
    assert fam["failsafe_queue_length"].type == "gauge"

    hist = fam["failsafe_time_to_disposition_seconds"]
    assert hist.type == "histogram"
    buckets = {
        float(s.labels["le"]): s.value
        for s in hist.samples
        if s.name.endswith("_bucket") and s.labels["model"] == "card-fraud"
    }
    assert len(buckets) == len(TTD_EDGES_SECONDS) + 1
    assert buckets[15.0] == 0 and buckets[30.0] == 1  # the 20-second decision
    assert buckets[1920.0] == 2 and buckets[float("inf")] == 2  # the 30-minute one by 32 min
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative
    assert value(hist, "failsafe_time_to_disposition_seconds_count", **a) == 2
    assert value(hist, "failsafe_time_to_disposition_seconds_sum", **a) == pytest.approx(1820)

    # A model with no traffic is still listed, with zeros.
    b = {"model": "chest-xray"}
    assert value(fam["failsafe_ingested"], "failsafe_ingested_total", **b) == 0
    assert value(fam["failsafe_queue_length"], "failsafe_queue_length", **b) == 0
    assert 0 <= value(fam["failsafe_rollup_age_seconds"], "failsafe_rollup_age_seconds") < 60


def test_metrics_before_any_fold(client, model_a):
    fam = scrape(client)
    assert value(fam["failsafe_rollup_age_seconds"], "failsafe_rollup_age_seconds") == -1
    assert value(fam["failsafe_ingested"], "failsafe_ingested_total", model="card-fraud") == 0


def test_metrics_report_the_unrouted_inbox(client, model_a):
    fam = scrape(client)
    assert value(fam["failsafe_inbox_waiting"], "failsafe_inbox_waiting") == 0
    assert value(fam["failsafe_inbox_oldest_age_seconds"], "failsafe_inbox_oldest_age_seconds") == 0
    now = timezone.now()
    make_prediction(model_a, received_at=now - dt.timedelta(minutes=5), routed=None)
    make_prediction(model_a, received_at=now - dt.timedelta(seconds=10), routed=None)
    make_prediction(model_a, received_at=now - dt.timedelta(hours=1), routed=True)
    fam = scrape(client)
    assert value(fam["failsafe_inbox_waiting"], "failsafe_inbox_waiting") == 2
    age = value(fam["failsafe_inbox_oldest_age_seconds"], "failsafe_inbox_oldest_age_seconds")
    assert 300 <= age < 360, "the oldest unrouted row, not the routed one"


def test_metrics_queries_do_not_grow_with_models(
    client, model_a, model_b, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reviewapp.services.sweeps import queue_counts_refresh
    from tests.factories import MLModelFactory

    def queries() -> int:
        queue_counts_refresh()  # beat keeps the open-item counts; the endpoint reads them
        client.get("/metrics")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/metrics").status_code == 200
        return len(ctx.captured_queries)

    # models (with their mode), totals, live counts snapshot, watermark, unresolved alerts,
    # and the monitors' states of every model in one evaluation
    two = queries()
    MLModelFactory(slug="third-model")
    assert queries() == two <= 13


@override_settings(METRICS_TOKEN="s3cret-scrape-token")
def test_metrics_token_is_required_when_set(client, model_a):
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert b"Authorization" in missing.content
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    basic = client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-scrape-token")
    assert basic.status_code == 401
    fam = scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert "failsafe_queue_length" in fam


def test_metrics_refuses_writes(client, db):
    assert client.post("/metrics").status_code == 405
