from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.dashboards.services import rollups_fold
from reviewapp.models import Decision
from tests.factories import MLModelFactory, UserFactory, signed_in_queries

from .conftest import make_item, make_prediction, reviewed

pytestmark = pytest.mark.django_db


@pytest.fixture
def traffic(model_a, model_b, ana, ravi):
    """A day of traffic on two models, folded."""
    now = timezone.now()
    start = now - dt.timedelta(hours=20)
    for hour in range(20):
        at = start + dt.timedelta(hours=hour)
        for i in range(12):
            make_prediction(model_a, received_at=at + dt.timedelta(minutes=i), routed=i < 3)
            make_prediction(model_b, received_at=at + dt.timedelta(minutes=i), routed=i < 2)
        reviewed(model_a, ana, received_at=at, after=dt.timedelta(minutes=14), confidence=0.62)
        reviewed(
            model_a,
            ravi,
            received_at=at,
            after=dt.timedelta(minutes=40),
            action=Decision.Action.OVERRIDE,
            confidence=0.35,
        )
    breached = make_item(make_prediction(model_a, received_at=now - dt.timedelta(hours=3)))
    breached.sla_breached_at = now - dt.timedelta(hours=2)
    breached.save(update_fields=["sla_breached_at"])
    rollups_fold(now=now + dt.timedelta(minutes=1))
    return now


def login(client, *roles, name=None):
    user = UserFactory(username=name or "-".join(roles) or "nobody", roles=list(roles))
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    ("roles", "overview", "model_page"),
    [
        (["lead"], 200, 200),
        (["committee"], 200, 200),
        (["engineer"], 200, 200),
        (["reviewer"], 200, 403),
        (["catalog_editor"], 403, 403),
        ([], 403, 403),
    ],
)
def test_who_may_see_dashboards(client, model_a, roles, overview, model_page):
    login(client, *roles)
    assert client.get(reverse("dashboards:overview")).status_code == overview
    assert client.get(reverse("dashboards:model", args=[model_a.slug])).status_code == model_page


def test_anonymous_is_sent_to_login(client, model_a):
    response = client.get(reverse("dashboards:overview"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_bad_range_is_a_400_naming_the_field(client, model_a):
    login(client, "lead")
    response = client.get(reverse("dashboards:overview"), {"range": "1y"})
    assert response.status_code == 400
    assert b"range" in response.content and b"24h, 7d, 30d" in response.content
    assert (
        client.get(reverse("dashboards:model", args=[model_a.slug]), {"range": "x"}).status_code
        == 400
    )


def test_unknown_model_is_a_404(client, db):
    login(client, "lead")
    assert client.get(reverse("dashboards:model", args=["nope"])).status_code == 404


def test_overview_shows_each_model_with_its_figures(client, traffic, model_a, model_b):
    login(client, "committee")
    response = client.get(reverse("dashboards:overview"))
    html = response.content.decode()
    lines = {line["model"].slug: line for line in response.context["lines"]}
    a = lines[model_a.slug]
    # 20 h x 12 predictions (3 routed) + 40 reviewed + 1 breached, all routed.
    assert (a["summary"].ingested, a["summary"].routed) == (281, 101)
    assert a["summary"].uncertain_rate == pytest.approx(101 / 281)
    assert a["summary"].decided == 40 and a["summary"].override_rate == pytest.approx(0.5)
    assert a["summary"].sla_breaches == 1
    # Live: the 41 review items (the rows built here never move them out of pending).
    assert (a["queue"].open, a["queue"].breached_open) == (41, 1)
    assert lines[model_b.slug]["summary"].uncertain_rate == pytest.approx(2 / 12)
    assert "35.9%" in html and "Dashboards" in html
    assert reverse("dashboards:model", args=[model_a.slug]) in html
    # The nav marks the section.
    assert 'aria-current="page"' in html


def test_model_page_charts_and_tables(client, traffic, model_a):
    login(client, "committee")
    response = client.get(reverse("dashboards:model", args=[model_a.slug]), {"range": "7d"})
    assert response.status_code == 200
    html = response.content.decode()
    ctx = response.context
    assert ctx["threshold"] == pytest.approx(0.7)
    cal = {round(r.low, 1): r for r in ctx["calibration"]}
    assert (cal[0.6].decided, cal[0.6].agreed, cal[0.3].decided, cal[0.3].agreed) == (20, 20, 20, 0)
    people = {p["reviewer"].username: p for p in ctx["throughput"]["people"]}
    assert people["ana"]["decided"] == 20 and people["ravi"]["override_share"] == 1.0
    # Inline SVG with axis units, the threshold drawn, hover titles and a data table.
    assert html.count("<svg") >= 3
    assert "% routed" in html and "model confidence" in html and "threshold 0.70" in html
    assert "<title>" in html and "Show data" in html
    assert "How to read this" in html and "spike" in html and "shift" in html
    assert "Confidence below threshold" in html  # reason codes in words


def test_policy_change_is_marked_on_the_rate_chart(client, model_a):
    from reviewapp.core.audit import Actor
    from reviewapp.governance.services import policy_version_create
    from tests.factories import DEFAULT_RULES

    policy_version_create(
        model_slug=model_a.slug,
        rules={**DEFAULT_RULES, "min_confidence": 0.62},
        labels=model_a.labels,
        activate=True,
        actor=Actor.system("tests"),
    )
    login(client, "lead")
    response = client.get(reverse("dashboards:model", args=[model_a.slug]))
    assert "v2 · threshold 0.62" in response.content.decode()
    assert [m.version for m in response.context["marks"]][-1] == 2


def test_dashboards_read_a_fixed_number_of_queries(
    client, traffic, django_assert_num_queries, model_a
):
    """Pinned: the pages read rollups and grouped counts, so more models or rows add no
    queries. Overview: watermark, models,
    rollup sums, rate points and the open-item count snapshot."""
    from reviewapp.services.sweeps import queue_counts_refresh

    login(client, "lead")
    queue_counts_refresh()  # beat keeps the open-item counts; the pages read that snapshot
    url = reverse("dashboards:overview")
    client.get(url)  # warm caches outside the pin
    with django_assert_num_queries(signed_in_queries(5)):
        assert client.get(url).status_code == 200
    for n in range(5):  # more models and more rows: still the same number of queries
        MLModelFactory(slug=f"extra-{n}")
    with django_assert_num_queries(signed_in_queries(5)):
        client.get(url, {"range": "30d"})
    model_url = reverse("dashboards:model", args=[model_a.slug])
    # + model, watermark, rollups, live counts, policy history, reviewer days,
    # governance's emergency flag (an unratified emergency rollback of the model), and
    # core's model hooks: the banners and the actions (the fail-safe app reads the mode).
    with django_assert_num_queries(signed_in_queries(9)):
        assert client.get(model_url, {"range": "30d"}).status_code == 200


def test_daily_trend_points_sum_hourly_rollups_per_utc_day(model_a):
    from reviewapp.dashboards.models import ModelRollup
    from reviewapp.dashboards.selectors import rate_points

    day = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    for hour, ing, routed in [(0, 10, 1), (10, 20, 2), (30, 30, 3)]:
        ModelRollup.objects.create(
            model=model_a, bucket_start=day + dt.timedelta(hours=hour), ingested=ing, routed=routed
        )
    daily = rate_points(start=day, end=day + dt.timedelta(days=3), step=dt.timedelta(days=1))
    assert [(p["bucket_start"], p["ingested"], p["routed"]) for p in daily] == [
        (day, 30, 3),
        (day + dt.timedelta(days=1), 30, 3),
    ]
    hourly = rate_points(start=day, end=day + dt.timedelta(days=3))
    assert [p["ingested"] for p in hourly] == [10, 20, 30]


def test_live_queue_reads_the_fresh_snapshot_and_counts_itself_when_it_is_stale(db):
    import datetime as dt

    from django.utils import timezone

    from reviewapp.dashboards.selectors import live_queue
    from reviewapp.models import QueueCountSnapshot
    from tests.factories import MLModelFactory

    model = MLModelFactory(slug="snap-model")
    row = {"near": 0, "high": 0, "medium": 0}
    snapshot = QueueCountSnapshot.objects.create(
        pk=1,
        computed_at=timezone.now(),
        rows=[
            {**row, "model_id": model.pk, "status": "pending", "n": 7, "breached": 2,
             "oldest": "2026-11-20T10:00:00+00:00"},
            {**row, "model_id": model.pk, "status": "claimed", "n": 3, "breached": 1,
             "oldest": "2026-11-21T10:00:00+00:00"},
        ],
    )  # fmt: skip
    q = live_queue()[model.pk]
    assert (q.open, q.pending, q.breached_open) == (10, 7, 3)
    assert q.oldest_created_at == dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)

    # Beat stopped refreshing: the page counts the (empty) table itself.
    snapshot.computed_at = timezone.now() - dt.timedelta(hours=1)
    snapshot.save()
    assert model.pk not in live_queue()
