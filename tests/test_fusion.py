import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.search.fusion import fuse, normalize_scores, reciprocal_rank_fusion, score_fusion


def leg(rows):
    rows = np.asarray(rows, dtype=np.int64)
    return rows, np.linspace(10.0, 1.0, num=len(rows)) if len(rows) else np.zeros(0)


rankings = st.lists(st.integers(0, 40), max_size=25, unique=True)
weights = st.floats(0.0, 5.0, allow_nan=False)


def test_rrf_matches_the_formula():
    rows, scores = reciprocal_rank_fusion([leg([1, 2, 3]), leg([3, 1])], [1.0, 2.0], k=60)
    expected = {1: 1 / 61 + 2 / 62, 2: 1 / 62, 3: 1 / 63 + 2 / 61}
    assert dict(zip(rows.tolist(), scores.tolist())) == pytest.approx(expected)
    assert rows.tolist() == [3, 1, 2]


@settings(max_examples=300, deadline=None)
@given(rankings, rankings, weights, weights, st.sampled_from(["rrf", "minmax", "zscore"]))
def test_fusion_properties(a, b, wa, wb, method):
    rows, scores = fuse([leg(a), leg(b)], [wa, wb], method)
    # Every row of either leg, once, best first, nothing negative.
    assert sorted(rows.tolist()) == sorted(set(a) | set(b))
    assert np.all(np.diff(scores) <= 1e-12)
    assert np.all(scores >= 0)
    # A row only one leg returned gets exactly that leg's contribution.
    alone = dict(zip(*fuse([leg(a)], [wa], method)))
    both = dict(zip(rows.tolist(), scores.tolist()))
    for row in set(a) - set(b):
        assert both[row] == pytest.approx(alone[row])


@settings(max_examples=200, deadline=None)
@given(rankings, rankings, st.sampled_from(["rrf", "minmax"]))
def test_zero_weight_leg_changes_no_order_among_the_other_legs_rows(a, b, method):
    rows, _ = fuse([leg(a), leg(b)], [1.0, 0.0], method)
    assert [r for r in rows.tolist() if r in set(a)] == a


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50), st.sampled_from(["minmax", "zscore"]))
def test_normalisation_keeps_order_and_is_non_negative(scores, method):
    normalized = normalize_scores(np.asarray(scores), method)
    assert np.all(normalized >= 0)
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(normalized[order]) >= -1e-9)
    if method == "minmax":
        assert normalized.max() <= 1 + 1e-12


def test_bad_fusion_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse([leg([1])], [1.0], "borda")
    with pytest.raises(ValueError, match="negative"):
        fuse([leg([1])], [-1.0], "rrf")
    with pytest.raises(ValueError, match="positive"):
        reciprocal_rank_fusion([leg([1])], [1.0], k=0)
    with pytest.raises(ValueError, match="normalisation"):
        score_fusion([leg([1])], [1.0], "l3")
