"""The position-based click model (shopsearch.behaviour.clicks) against sessions simulated from a known PBM,
graded judgments from it, and SqliteEventStore.sessions, which feeds it from the search log."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import spearmanr

from shopsearch.behaviour import ClickModel, Event, SearchRecord, Session, SqliteEventStore, fit_pbm, graded_judgments
from shopsearch.behaviour.clicks import ERR_CUTS, grade

TRUE_GAMMA = np.array([1.0, 0.7, 0.5, 0.35, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04])


def simulate(alpha: dict[str, dict[str, float]], n: int, seed: int, pinned: dict[str, dict[int, str]] | None = None,
             gamma: np.ndarray = TRUE_GAMMA) -> list[Session]:
    """n sessions per query from a PBM: each a random ranking of the query's items (so every item is seen
    at many ranks), except `pinned` ones, which always sit at their given rank."""
    rng = np.random.default_rng(seed)
    sessions = []
    for query, items in sorted(alpha.items()):
        fixed = (pinned or {}).get(query, {})
        free = [item for item in items if item not in fixed.values()]
        for _ in range(n):
            order = [free[i] for i in rng.permutation(len(free))]
            for rank in sorted(fixed):
                order.insert(rank - 1, fixed[rank])
            shown = tuple(order[:len(gamma)])
            p = gamma[:len(shown)] * np.array([items[item] for item in shown])
            clicked = frozenset(int(r) + 1 for r in np.flatnonzero(rng.random(len(shown)) < p))
            sessions.append(Session(query, shown, clicked, frozenset()))
    return sessions


def true_alpha(n_queries: int = 3, n_items: int = 15, seed: int = 1) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    return {f"q{q}": {f"q{q}-d{d}": float(a) for d, a in enumerate(rng.uniform(0.02, 0.95, n_items))}
            for q in range(n_queries)}


# -- against a known PBM ---------------------------------------------------------
def test_recovers_a_known_pbm():
    alpha = true_alpha()
    model = fit_pbm(simulate(alpha, 1000, seed=2))
    for query, items in alpha.items():
        fitted = [model.relevance[query][item] for item in items]
        assert spearmanr(fitted, list(items.values())).statistic > 0.8
    gamma = model.examination
    assert gamma.shape == (10,) and gamma[0] == 1.0
    assert np.all(np.diff(gamma[:5]) < 0)  # strictly down where the true gamma falls fast
    assert np.all(np.diff(gamma) < 0.02)  # and never up by more than noise in the tail
    assert np.abs(gamma - TRUE_GAMMA).max() < 0.05


def test_corrects_position_bias():
    # "top" always sits at rank 1, "buried" always at rank 5 (true gamma 0.12); the other items of
    # the query are shuffled, so gamma is learnt from them. Raw CTR: 0.3 against 0.6 * 0.12 = 0.07.
    alpha = true_alpha(n_queries=2)
    alpha["q0"].update({"top": 0.3, "buried": 0.6})
    sessions = simulate(alpha, 2000, seed=3, pinned={"q0": {1: "top", 5: "buried"}})
    ctr = {item: np.mean([s.shown.index(item) + 1 in s.clicked for s in sessions if s.query == "q0"]) for item in ("top", "buried")}
    assert ctr["top"] > 2 * ctr["buried"]
    model = fit_pbm(sessions)
    fitted = model.relevance["q0"]
    assert fitted["top"] < fitted["buried"]
    assert fitted["top"] == pytest.approx(0.3, abs=0.05) and fitted["buried"] > 0.45
    # EM creeps along the likelihood's flat ridge (gamma * alpha): 50 iterations go most of the way.
    converged = fit_pbm(sessions, iterations=1000)
    assert converged.iterations < 1000 and converged.relevance["q0"]["buried"] == pytest.approx(0.6, abs=0.1)


def test_fitting_is_deterministic():
    sessions = simulate(true_alpha(n_queries=1), 300, seed=4)
    first, second = fit_pbm(sessions), fit_pbm(list(reversed(sessions)))
    assert np.allclose(first.examination, second.examination, rtol=0, atol=1e-12)
    for query, items in first.relevance.items():
        assert items == pytest.approx(second.relevance[query], abs=1e-12)
    assert first.impressions == second.impressions


def test_prior_keeps_a_single_click_from_alpha_one():
    model = fit_pbm([Session("q", ("a",), frozenset({1}), frozenset())])
    assert model.relevance["q"]["a"] == pytest.approx((1 + 0.2) / (1 + 2))  # one click over one impression, plus the prior
    assert model.impressions == {"q": {"a": 1}}


def test_positions_beyond_max_rank_are_ignored():
    model = fit_pbm([Session("q", ("a", "b", "c"), frozenset({3}), frozenset({3}))], max_rank=2)
    assert set(model.relevance["q"]) == {"a", "b"} and model.examination.shape == (2,)
    assert model.purchases == {}


@pytest.mark.parametrize("kwargs", [{"max_rank": 0}, {"iterations": -1}, {"prior": (0.0, 2.0)}, {"prior": (2.0, 2.0)}])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        fit_pbm([], **kwargs)


def test_no_sessions():
    model = fit_pbm([])
    assert model.relevance == {} and graded_judgments(model) == {}
    assert np.all((model.examination > 0) & (model.examination <= 1))


# -- properties ------------------------------------------------------------------
ITEMS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
SESSIONS = st.lists(
    st.builds(lambda query, shown, clicks, buys: Session(query, tuple(shown), frozenset(clicks), frozenset(buys)),
              st.sampled_from(["q1", "q2"]), st.lists(ITEMS, max_size=6, unique=True),
              st.sets(st.integers(1, 7)), st.sets(st.integers(1, 7))),
    max_size=40)


@settings(max_examples=150, deadline=None)
@given(SESSIONS, st.integers(1, 6), st.integers(0, 30))
def test_parameters_stay_in_range(sessions, max_rank, iterations):
    model = fit_pbm(sessions, max_rank=max_rank, iterations=iterations)
    gamma = model.examination
    assert gamma.shape == (max_rank,) and np.all((gamma > 0) & (gamma <= 1))
    alphas = [a for items in model.relevance.values() for a in items.values()]
    assert all(0 < a < 1 and math.isfinite(a) for a in alphas)
    shown = sum(min(len(s.shown), max_rank) for s in sessions)
    assert sum(n for items in model.impressions.values() for n in items.values()) == shown
    assert model.iterations <= iterations


@settings(max_examples=100, deadline=None)
@given(SESSIONS)
def test_fitting_is_deterministic_for_any_log(sessions):
    first, second = fit_pbm(sessions), fit_pbm(sessions)
    assert np.array_equal(first.examination, second.examination) and first.relevance == second.relevance


@given(st.floats(0, 1), st.floats(0, 1))
def test_grade_is_monotone(a, b):
    assert 0 <= grade(a) <= 3
    if a <= b:
        assert grade(a) <= grade(b)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]),
                       st.tuples(st.floats(0.001, 0.999), st.integers(0, 20), st.integers(0, 2)), max_size=4),
       st.integers(0, 10))
def test_graded_judgments(pairs, min_impressions):
    model = ClickModel(examination=np.ones(3), relevance={"q": {item: a for item, (a, _, _) in pairs.items()}},
                       impressions={"q": {item: n for item, (_, n, _) in pairs.items()}},
                       purchases={"q": {item: b for item, (_, _, b) in pairs.items() if b}})
    judged = graded_judgments(model, min_impressions=min_impressions).get("q", {})
    assert set(judged) == {item for item, (_, n, _) in pairs.items() if n >= min_impressions}
    for item, value in judged.items():
        a, _, bought = pairs[item]
        assert value == max(grade(a), 2 if bought else 0)


def test_graded_judgments_cuts():
    model = ClickModel(examination=np.ones(1), relevance={"q": {"a": 0.05, "b": 0.2, "c": 0.5, "d": 0.8, "e": 0.1}},
                       impressions={"q": dict.fromkeys("abcde", 10)}, purchases={"q": {"e": 1}})
    assert graded_judgments(model) == {"q": {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0, "e": 2.0}}
    assert graded_judgments(model, purchase_grade=0)["q"]["e"] == 1.0
    assert ERR_CUTS == (0.0625, 0.25, 0.625)
    with pytest.raises(ValueError):
        graded_judgments(model, cuts=(0.5, 0.2, 0.9))


# -- SqliteEventStore.sessions -------------------------------------------------------
def record(query_id, query, shown=("p1", "p2", "p3"), results=3, time=0.0):
    return SearchRecord(query_id=query_id, query=query, user_id=None, variant=None, shown=tuple(shown), results=results, time=time)


def event(kind, query_id, position, item_id="p1"):
    return Event(type=kind, query_id=query_id, item_id=item_id, position=position, user_id=None, timestamp=0.0)


def test_store_sessions(tmp_path):
    with SqliteEventStore(tmp_path / "behaviour.db", retention_days=math.inf) as store:
        store.log_search(record("s1", "tv", time=10.0))
        store.log_search(record("s2", "radio", shown=("r1",), time=20.0))
        store.log_search(record("s3", "nothing", shown=(), results=0, time=30.0))
        store.log_search(record("s4", "tv", time=40.0))
        store.add_events([event("click", "s1", 1), event("click", "s1", 3), event("click", "s1", 3), event("purchase", "s1", 3),
                          event("add_to_cart", "s2", 1), event("click", "s4", 9), event("purchase", "s3", 1)])
        store.log_search(record("s5", "late", time=50.0))  # still buffered: sessions() flushes it
        got = list(store.sessions())
        assert got == [Session("tv", ("p1", "p2", "p3"), frozenset({1, 3}), frozenset({3})),
                       Session("radio", ("r1",), frozenset(), frozenset()),
                       Session("tv", ("p1", "p2", "p3"), frozenset(), frozenset()),  # position 9 was never shown
                       Session("late", ("p1", "p2", "p3"), frozenset(), frozenset())]
        assert [s.query for s in store.sessions(since=20.0, until=50.0)] == ["radio", "tv"]
        assert list(store.sessions(since=60.0)) == []
        judged = graded_judgments(fit_pbm(store.sessions()), min_impressions=2)
        assert list(judged) == ["tv"] and set(judged["tv"]) == {"p1", "p2", "p3"} and judged["tv"]["p3"] >= 2  # bought
