"""The demo's synthetic traffic (reviewapp/demo.py) is what a sane producer sends: each
label is the arg-max of the scores sent with it (issue 15: "Model says FRAUD 0.45" beside
"legit 0.55 · fraud 0.45" was generated)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reviewapp import demo
from reviewapp.governance.rules import output_inconsistent, top_scores


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_the_generator_never_sends_a_label_its_scores_contradict(seed):
    for body in demo.envelopes(30, seed=seed):
        output = body["output"]
        label, scores = output["label"], output["scores"]
        assert label in scores
        assert not output_inconsistent(label, top_scores(label, scores)), body
        # The demo producer's confidence is its label's score (a real one may calibrate).
        assert body["confidence"] == scores[label]
        assert 0 <= body["confidence"] <= 1


def test_the_anomalous_examples_are_consistent_too():
    for body in demo.anomalous_envelopes():
        label, scores = body["output"]["label"], body["output"]["scores"]
        assert not output_inconsistent(label, top_scores(label, scores))


def test_the_generator_is_still_deterministic_per_seed():
    assert demo.envelopes(50, seed=3) == demo.envelopes(50, seed=3)
    assert demo.envelopes(50, seed=3) != demo.envelopes(50, seed=4)


def test_the_card_fraud_model_is_strict_in_the_demo():
    strict = {m["slug"]: m.get("strict_output", False) for m in demo.DEMO_MODELS}
    assert strict == {"card-fraud": True, "support-triage": False, "radiology-triage": False}
