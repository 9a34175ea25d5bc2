"""Agreement statistics on fixtures computed by hand, and the selectors that feed them."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from reviewapp.core import clock
from reviewapp.models import Purpose
from reviewapp.quality import agreement as stats
from reviewapp.quality.selectors import agreement as sel
from tests.factories import UserFactory

from . import scorecard_builders as b

# --- Cohen's kappa ------------------------------------------------------------------------
# A 2x2 table of 50 second-review pairs (rows: first reviewer, columns: second):
#               second F   second L
#   first F        20          5       (25)
#   first L        10         15       (25)
#                 (30)        (20)
# p_o = (20 + 15) / 50 = 0.7
# p_e = P1(F)·P2(F) + P1(L)·P2(L) = 0.5·0.6 + 0.5·0.4 = 0.5
# kappa = (0.7 − 0.5) / (1 − 0.5) = 0.4
TABLE = [("F", "F")] * 20 + [("F", "L")] * 5 + [("L", "F")] * 10 + [("L", "L")] * 15


def test_kappa_on_a_two_by_two_table_computed_by_hand():
    p_o = (20 + 15) / 50
    p_e = (25 / 50) * (30 / 50) + (25 / 50) * (20 / 50)
    assert stats.cohen_kappa(TABLE) == pytest.approx((p_o - p_e) / (1 - p_e))
    assert stats.cohen_kappa(TABLE) == pytest.approx(0.4)


def test_kappa_figure_has_an_interval_around_the_value_and_its_n():
    fig = stats.kappa_figure(TABLE)
    assert fig.value == pytest.approx(0.4)
    assert fig.n == 50 and not fig.few
    assert fig.low < fig.value < fig.high
    assert fig.low >= -1 and fig.high <= 1
    # seeded: the same interval every time
    assert stats.kappa_figure(TABLE) == fig


def test_kappa_perfect_and_undefined():
    assert stats.cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    # every label the same: chance agreement is total, kappa is undefined, not 1
    assert stats.cohen_kappa([("a", "a")] * 5) is None
    assert stats.kappa_figure([("a", "a")] * 5).value is None
    assert stats.kappa_figure([]).n == 0


def test_the_bootstraps_fast_kappa_is_the_formula():
    codes, k = stats._codes([a for a, _b in TABLE] + [b for _a, b in TABLE])
    a, b_ = codes[:50], codes[50:]
    assert stats._kappa_many(np.ones((1, 50)), a, b_, k)[0] == pytest.approx(0.4)


# --- Krippendorff's alpha with missing labels ---------------------------------------------
# Reliability matrix, 3 reviewers × 5 predictions ("-": that reviewer did not label it):
#   unit:      1  2  3  4  5
#   ana        a  a  b  -  a
#   ravi       a  b  b  a  b
#   zoe        -  -  b  -  b
# Unit 4 has one label: not pairable, left out. Coincidences o_ck = Σ_u n_uc·n_uk' / (m_u − 1)
# (pairs of different raters within a unit):
#   unit 1 (a,a):   o_aa += 2·1/1 = 2
#   unit 2 (a,b):   o_ab += 1, o_ba += 1
#   unit 3 (b,b,b): o_bb += 3·2/2 = 3
#   unit 5 (a,b,b): o_ab += 1·2/2 = 1, o_ba += 1, o_bb += 2·1/2 = 1
# o_aa = 2, o_ab = o_ba = 2, o_bb = 4;  n_a = 4, n_b = 6, n = 10
# alpha = 1 − (n − 1)·(o_ab + o_ba) / (n_a·n_b + n_b·n_a) = 1 − 9·4/48 = 0.25
UNITS = [["a", "a"], ["a", "b"], ["b", "b", "b"], ["a"], ["a", "b", "b"]]


def test_alpha_with_missing_labels_on_a_matrix_computed_by_hand():
    n_a, n_b, n = 4, 6, 10
    o_ab = o_ba = 2
    expected = 1 - (n - 1) * (o_ab + o_ba) / (2 * n_a * n_b)
    assert expected == pytest.approx(0.25)
    assert stats.krippendorff_alpha(UNITS) == pytest.approx(expected)


def test_the_package_reads_the_same_matrix_with_nan_for_missing():
    import krippendorff

    nan = np.nan
    reliability = np.array([[0, 0, 1, nan, 0], [0, 1, 1, 0, 1], [nan, nan, 1, nan, 1]], dtype=float)
    assert krippendorff.alpha(
        reliability_data=reliability, level_of_measurement="nominal"
    ) == pytest.approx(0.25)


def test_the_bootstraps_coincidence_form_is_the_packages_alpha():
    rng = np.random.default_rng(3)
    units = [list(rng.choice(["x", "y", "z"], size=rng.integers(1, 5))) for _ in range(200)]
    counts = stats.value_counts(stats.pairable(units))
    assert stats.alpha_from_counts(counts) == pytest.approx(stats.krippendorff_alpha(units))


def test_alpha_figure_interval_contains_the_value_and_n_counts_pairable_units():
    units = UNITS * 10  # 50 units, 40 pairable (alpha moves a little with n: its (n − 1))
    fig = stats.alpha_figure(units)
    assert fig.value == pytest.approx(stats.krippendorff_alpha(units))
    assert fig.n == 40 and not fig.few
    assert fig.low <= fig.value <= fig.high


def test_alpha_undefined_and_few():
    assert stats.krippendorff_alpha([["a"], ["b"]]) is None  # nothing pairable
    assert stats.krippendorff_alpha([["a", "a"], ["a", "a"]]) is None  # one value only
    fig = stats.alpha_figure(UNITS)
    assert fig.n == 4 and fig.few


def test_one_label_against_the_rest():
    pairs = stats.one_vs_rest_pairs([("a", "b"), ("c", "c"), ("a", "a")], "a")
    assert pairs == [(True, False), (False, False), (True, True)]
    units = stats.one_vs_rest_units([["a", "c"], ["b"]], "a")
    assert units == [[True, False], [False]]


# --- Wilson ---------------------------------------------------------------------------------
def test_wilson_interval_by_hand():
    # 8 of 10, z = 1.96: centre = (0.8 + z²/20) / (1 + z²/10), half = z·√(0.016 + z²/400) / (1 + z²/10)
    z = stats.Z95
    denom = 1 + z * z / 10
    centre = (0.8 + z * z / 20) / denom
    half = z * math.sqrt(0.8 * 0.2 / 10 + z * z / 400) / denom
    fig = stats.wilson(8, 10)
    assert fig.value == pytest.approx(0.8)
    assert fig.low == pytest.approx(centre - half)
    assert fig.high == pytest.approx(centre + half)
    assert fig.low < 0.8 < fig.high and fig.few
    assert stats.wilson(0, 0).value is None
    all_right = stats.wilson(30, 30)
    assert all_right.value == 1.0 and all_right.high == pytest.approx(1.0)
    assert all_right.low < 1.0


# --- the selectors ----------------------------------------------------------------------------
@pytest.fixture
def people(db):
    return {
        name: UserFactory(username=name, roles=["reviewer"]) for name in ("ana", "ravi", "zoe")
    } | {"lee": UserFactory(username="lee", roles=["lead"])}


@pytest.mark.django_db
def test_pairs_come_from_closed_second_reviews(fraud_model, people):
    ana, ravi, lee = people["ana"], people["ravi"], people["lee"]
    b.second_review(fraud_model, ana, "fraud", ravi, "fraud", model_label="fraud")
    b.second_review(
        fraud_model, ana, "legit", ravi, "fraud", model_label="fraud", final_label="legit", lead=lee
    )
    b.second_review(fraud_model, ravi, "legit", ana, "fraud", model_label="legit")  # adjudicating
    since = sel.window_start(90)
    pairs = sorted(sel.label_pairs(since=since, model_id=fraud_model.pk))
    assert pairs == [("fraud", "fraud"), ("legit", "fraud"), ("legit", "fraud")]


@pytest.mark.django_db
def test_units_leave_out_gold_qualification_undone_and_the_adjudicators_answer(fraud_model, people):
    ana, ravi, zoe, lee = people["ana"], people["ravi"], people["zoe"], people["lee"]
    # a routed prediction labelled by ana, and a shift sample of it by zoe: one unit of two
    pred = b.prediction(fraud_model, "fraud")
    b.decide(b.item(pred), ana, "fraud")
    b.decide(b.item(pred, Purpose.SHIFT_SAMPLE), zoe, "legit")
    # one label only: a unit with the others missing
    b.decide(b.item(b.prediction(fraud_model, "legit")), ravi, "legit")
    # an undone decision counts nowhere
    b.decide(b.item(b.prediction(fraud_model, "legit")), ravi, "fraud", undone=True)
    # an adjudicated pair: the two reviewers' labels, not the lead's third
    b.second_review(
        fraud_model, ana, "legit", ravi, "fraud", model_label="fraud", final_label="legit", lead=lee
    )
    # gold and qualification answers are accuracy data, never agreement data
    g = b.gold(fraud_model, lee, label="legit", model_label="fraud")
    b.serve_and_answer(g, zoe, "fraud")
    b.serve_and_answer(g, ana, "legit", qualification=True)
    units = sel.label_units(since=sel.window_start(90), model_id=fraud_model.pk)
    # the gold's source decision (lee's) is a routed decision on its own prediction: one label
    assert sorted(sorted(u) for u in units) == sorted(
        [["fraud", "legit"], ["legit"], ["fraud", "legit"], ["legit"]]
    )


@pytest.mark.django_db
def test_model_agreement_per_model_and_label(fraud_model, people):
    ana, ravi = people["ana"], people["ravi"]
    for first, second in TABLE:
        label = {"F": "fraud", "L": "legit"}
        b.second_review(fraud_model, ana, label[first], ravi, label[second], model_label="fraud")
    figures = sel.agreement_by_model(user=people["lee"], days=90)
    (fraud,) = [f for f in figures if f.model.pk == fraud_model.pk]
    assert fraud.kappa.value == pytest.approx(0.4) and fraud.kappa.n == 50
    assert fraud.pairs_agreeing.value == pytest.approx(0.7)
    assert fraud.alpha.n == 50
    # two labels: each label against the rest is the same 2x2 table
    assert [la.label for la in fraud.labels] == ["fraud", "legit"]
    assert fraud.labels[0].kappa.value == pytest.approx(0.4)


@pytest.mark.django_db
def test_the_window_leaves_out_older_decisions(fraud_model, people):
    sr = b.second_review(
        fraud_model, people["ana"], "fraud", people["ravi"], "legit", model_label="fraud"
    )
    old = clock.now() - dt.timedelta(days=100)
    type(sr.second_decision).objects.filter(
        pk__in=[sr.first_decision_id, sr.second_decision_id]
    ).update(decided_at=old)
    assert sel.label_pairs(since=sel.window_start(90), model_id=fraud_model.pk) == []
    assert sel.label_units(since=sel.window_start(90), model_id=fraud_model.pk) == []
    assert len(sel.label_pairs(since=sel.window_start(120), model_id=fraud_model.pk)) == 1


@pytest.mark.django_db
def test_a_reviewer_reads_agreement_of_their_pools_only(fraud_model, people):
    from reviewapp.models import PoolMembership
    from tests.factories import MLModelFactory

    other = MLModelFactory(slug="other-model", labels=["x", "y"])
    PoolMembership.objects.create(model=fraud_model, user=people["ana"])
    slugs = [f.model.slug for f in sel.agreement_by_model(user=people["ana"])]
    assert slugs == ["card-fraud"]
    assert other.slug in [f.model.slug for f in sel.agreement_by_model(user=people["lee"])]
