import math

import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.eval.metrics import average_precision_at_k, judged_at_k, mrr_at_k, ndcg_at_k, recall_at_k

judgments = st.dictionaries(st.sampled_from("abcdefghij"), st.integers(0, 3), min_size=1)
ranking = st.lists(st.sampled_from("abcdefghijklmnop"), unique=True, max_size=16)


@settings(max_examples=300, deadline=None)
@given(ranking, judgments)
def test_metrics_are_between_zero_and_one(ranked, judged):
    for metric in (ndcg_at_k, mrr_at_k, recall_at_k, average_precision_at_k, judged_at_k):
        assert 0.0 <= metric(ranked, judged) <= 1.0 + 1e-12


@settings(max_examples=300, deadline=None)
@given(judgments)
def test_the_ideal_ranking_scores_one(judged):
    ideal = sorted(judged, key=lambda d: -judged[d])
    if any(g > 0 for g in judged.values()):
        assert ndcg_at_k(ideal, judged) == pytest.approx(1.0)
        assert mrr_at_k(ideal, judged) == 1.0


def test_known_values():
    judged = {"a": 3, "b": 0, "c": 1}
    assert ndcg_at_k(["b", "a"], judged) == pytest.approx((7 / 1.5849625007211562) / (7 + 1 / 1.5849625007211562))
    assert mrr_at_k(["x", "b", "c"], judged) == pytest.approx(1 / 3)
    assert recall_at_k(["c"], judged) == 0.5
    assert judged_at_k(["a", "x"], judged) == 0.5


GRADES = st.dictionaries(st.text("abcdef", min_size=1, max_size=2), st.integers(0, 3), max_size=12)


@settings(max_examples=200, deadline=None)
@given(GRADES, st.permutations(list("abcdefgh")))
def test_ndcg_is_in_0_1_for_both_gains_and_they_agree_on_binary_grades(judgments, ranked):
    from shopsearch.eval.metrics import has_relevant

    for gain in ("exponential", "linear"):
        value = ndcg_at_k(ranked, judgments, 10, gain)
        assert 0.0 <= value <= 1.0 + 1e-9
        assert value == 0.0 or has_relevant(judgments)
    binary = {doc: min(grade, 1) for doc, grade in judgments.items()}
    assert abs(ndcg_at_k(ranked, binary, 10, "exponential") - ndcg_at_k(ranked, binary, 10, "linear")) < 1e-12


def test_linear_gain_weighs_grades_as_trec_eval_does():
    judgments = {"a": 3, "b": 1}
    # The system puts the grade-1 item first: linear gain (1, 3) vs ideal (3, 1).
    expected = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert abs(ndcg_at_k(["b", "a"], judgments, 10, "linear") - expected) < 1e-12
    assert ndcg_at_k(["b", "a"], judgments, 10, "exponential") < ndcg_at_k(["b", "a"], judgments, 10, "linear")
