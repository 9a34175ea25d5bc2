"""The queue's interface: occurrence_record, failure_modes_matching, failure_mode_choices."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from catalog import selectors, services
from catalog.models import FailureMode
from catalog.selectors import occurrence_trend
from reviewapp.core.exceptions import NotFound, ServiceError

pytestmark = pytest.mark.django_db


def test_occurrence_record_is_idempotent_and_counts(engineer, make_fm):
    fm = make_fm(engineer)
    now = timezone.now()
    for _ in range(2):
        services.occurrence_record(
            failure_mode_slug=fm.slug, source_type="review_decision", source_id=7, occurred_at=now
        )
    services.occurrence_record(
        failure_mode_slug=fm.slug, source_type="incident", source_id="7", occurred_at=now
    )
    fm.refresh_from_db()
    assert fm.occurrence_count == 2


def test_occurrence_record_rejects_bad_input(engineer, make_fm):
    fm = make_fm(engineer)
    with pytest.raises(NotFound) as exc:
        services.occurrence_record(
            failure_mode_slug="nope",
            source_type="incident",
            source_id=1,
            occurred_at=timezone.now(),
        )
    assert "failure_mode_slug" in exc.value.errors
    with pytest.raises(ServiceError) as exc:
        services.occurrence_record(
            failure_mode_slug=fm.slug, source_type="tweet", source_id=1, occurred_at=timezone.now()
        )
    assert "source_type" in exc.value.errors
    with pytest.raises(ServiceError) as exc:
        services.occurrence_record(
            failure_mode_slug=fm.slug,
            source_type="incident",
            source_id=1,
            occurred_at=dt.datetime(2026, 1, 1),  # noqa: DTZ001 - naive on purpose
        )
    assert "occurred_at" in exc.value.errors


@pytest.mark.parametrize(
    ("counts", "trend"),
    [
        ([0] * 8 + [1, 2, 3, 4], "rising"),
        ([3, 4, 3, 4, 3, 4, 3, 4, 0, 0, 1, 0], "falling"),
        ([2] * 12, "stable"),
        ([0] * 11 + [1], "stable"),
    ],
)
def test_trend(counts, trend):
    assert occurrence_trend(counts) == trend


def test_weekly_series_and_trend(engineer, make_fm):
    fm = make_fm(engineer)
    now = timezone.now()
    for i in range(6):
        services.occurrence_record(
            failure_mode_slug=fm.slug,
            source_type="review_decision",
            source_id=i,
            occurred_at=now - dt.timedelta(days=i),
        )
    series = selectors.failure_mode_occurrences(fm, now=now)
    assert len(series.weeks) == 12 and sum(c for _w, c in series.weeks) == 6
    assert series.trend == "rising" and series.by_source == {"review_decision": 6}


def test_matching_and_choices(editor, editor2, make_fm):
    drift = make_fm(
        editor,
        "Currency drift",
        publish_by=editor2,
        signal_keys=["drift_signalled", "amount"],
        affected_models=["card-fraud"],
    )
    make_fm(
        editor, "OOD scanner", publish_by=editor2, signal_keys=["ood_above_limit"], severity="S1"
    )
    draft = make_fm(editor, "Unreviewed idea", signal_keys=["drift_signalled"])
    found = selectors.failure_modes_matching(
        model_slug="card-fraud",
        label="fraud",
        reason_codes=["drift_signalled"],
        drift_features=["amount"],
    )
    assert [f.slug for f in found] == [drift.slug]
    assert found[0].match_reasons == [
        "affects card-fraud",
        "reason drift_signalled",
        "drift on amount",
    ]
    assert (
        selectors.failure_modes_matching(model_slug="x", reason_codes=[], drift_features=[]) == []
    )
    choices = selectors.failure_mode_choices()
    assert [c.slug for c in choices] == ["currency-drift", "ood-scanner", draft.slug]
    assert choices[1].severity == "S1" and choices[0].title == "Currency drift"
    services.failure_mode_transition(
        failure_mode=FailureMode.objects.get(slug="ood-scanner"), user=editor2, action="deprecate"
    )
    assert "ood-scanner" not in [c.slug for c in selectors.failure_mode_choices()]
