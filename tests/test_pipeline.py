"""The search plan and its stages: validation at the plan, each depth reaching the stage it names,
config values checked when built, declared model capabilities, breakers, and a failed open."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import HashEmbedder, WordReranker
from shopsearch import Engine, InvalidConfig, InvalidRequest
from shopsearch.config import EngineConfig, SearchConfig
from shopsearch.models import InputTooLong
from shopsearch.search import pipeline
from shopsearch.search.plan import MAX_K, Abilities, SearchPlan
from shopsearch.search.resilience import CircuitBreaker, ModelCallFailed

PRODUCTS = [{"id": str(i), "title": f"running shoe model {i}", "price": 10 + i} for i in range(30)]


# -- the plan -----------------------------------------------------------------
VALID = {
    "mode": st.sampled_from(["keyword", "vector", "hybrid", None]),
    "k": st.integers(1, MAX_K),
    "offset": st.integers(0, MAX_K),
    "fusion": st.sampled_from(["rrf", "minmax", "zscore", None]),
    "rrf_k": st.one_of(st.none(), st.floats(0.5, 500)),
    "keyword_weight": st.one_of(st.none(), st.floats(0, 10)),
    "candidates": st.integers(1, MAX_K),
    "rerank_depth": st.integers(1, MAX_K),
    "ranker_depth": st.integers(1, MAX_K),
    "explain": st.booleans(),
    "facets": st.booleans(),
}


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional=VALID))
def test_every_valid_request_builds_a_plan_within_bounds(request):
    plan = SearchPlan.build("shoe", SearchConfig(), Abilities(reranker=True), **request)
    assert plan.mode in ("keyword", "vector", "hybrid") and plan.fusion in ("rrf", "minmax", "zscore")
    assert plan.wanted <= plan.depth or plan.depth == MAX_K
    assert plan.depth <= MAX_K and (plan.rerank and plan.depth >= min(plan.rerank_depth, MAX_K) or not plan.rerank)


BAD = [
    ("mode", "fuzzy"), ("k", 0), ("k", True), ("k", 1.5), ("offset", -1), ("offset", MAX_K + 1), ("fusion", "borda"),
    ("rrf_k", 0), ("rrf_k", float("nan")), ("keyword_weight", -0.1), ("vector_weight", float("inf")),
    ("candidates", 0), ("ranker_depth", 0), ("rerank_depth", MAX_K + 1), ("timeout_s", 0), ("explain", "yes"),
    ("filters", ["price<=cheap"]), ("rerank_instruction", 3), ("colour", "red"),
]


@pytest.mark.parametrize("name, value", BAD)
def test_every_invalid_value_is_refused_by_the_plan_naming_it(name, value):
    with pytest.raises(InvalidRequest) as err:
        SearchPlan.build("shoe", SearchConfig(), Abilities(), **{name: value})
    expected = "weights" if name.endswith("_weight") else name
    assert err.value.param == expected, err.value


def test_stages_the_engine_lacks_are_refused_by_name():
    for name in ("ranker", "rerank"):
        with pytest.raises(InvalidRequest) as err:
            SearchPlan.build("shoe", SearchConfig(), Abilities(), **{name: True})
        assert err.value.param == name
    with pytest.raises(InvalidRequest, match="needs mode=hybrid"):
        SearchPlan.build("shoe", SearchConfig(), Abilities(ranker=True), mode="keyword", ranker=True)


# -- config -----------------------------------------------------------------
@pytest.mark.parametrize("variable, value", [
    ("SHOPSEARCH_SEARCH__FUSION", "borda"), ("SHOPSEARCH_SEARCH__MODE", "fuzzy"),
    ("SHOPSEARCH_VECTOR__BACKEND", "annoy"), ("SHOPSEARCH_MODEL__TRUNCATION", "cut"),
    ("SHOPSEARCH_SEARCH__CANDIDATES", "0"), ("SHOPSEARCH_SEARCH__VECTOR_WEIGHT", "-1"),
])
def test_a_bad_setting_stops_start_up_naming_its_variable(variable, value):
    with pytest.raises(InvalidConfig, match=variable):
        EngineConfig.from_env({variable: value})


def test_configs_built_in_code_are_checked_too():
    with pytest.raises(InvalidConfig, match="fusion must be one of"):
        SearchConfig(fusion="borda")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfig, match="rerank_depth"):
        SearchConfig(rerank_depth=0)


# -- each depth reaches its stage ---------------------------------------------
class CountingRanker:
    """A learned ranker's stand-in: scores by the keyword score, records how many rows it saw."""

    meta: dict = {}

    def __init__(self) -> None:
        self.seen: list[int] = []

    def score(self, X):
        self.seen.append(len(X))
        return X[:, 0].astype(np.float64)


def test_ranker_depth_and_rerank_depth_each_reach_their_own_stage(open_engine, tmp_path):
    reranker = WordReranker()
    engine = open_engine(tmp_path / "d", embedder=HashEmbedder(), reranker=reranker)
    engine.upsert(PRODUCTS)
    ranker = CountingRanker()
    engine.set_ranker(ranker, save=False)
    response = engine.search("running shoe", k=5, ranker_depth=12, rerank_depth=7)
    assert ranker.seen[-1] == 12 and len(reranker.seen[-1][1]) == 7
    assert {"ranker_ms", "rerank_ms", "retrieve_ms", "fuse_ms", "page_ms"} <= set(response.timings)
    assert sum(h.explanation.ranker_score is not None for h in response.hits) == 5
    defaults = engine.search("running shoe", k=5)
    assert ranker.seen[-1] == min(engine.config.search.ranker_depth, len(PRODUCTS))
    assert len(reranker.seen[-1][1]) == min(engine.config.search.rerank_depth, len(PRODUCTS))
    assert len(defaults.hits) == 5


def test_the_pipeline_can_stop_after_a_stage(open_engine, tmp_path):
    engine = open_engine(tmp_path / "d", embedder=HashEmbedder())
    engine.upsert(PRODUCTS)
    plan = engine.plan("running shoe", k=3)
    fused = pipeline.run(plan, engine._context, until="fuse")
    assert len(fused.rows) == len(PRODUCTS) and not fused.hits and "page_ms" not in fused.timings
    records = engine._backends.store.records(fused.rows[:3].tolist())
    assert [h.id for h in engine.search("running shoe", k=3).hits] == [records[r]["id"] for r in fused.rows[:3].tolist()]


# -- capabilities and breakers --------------------------------------------------
def test_the_default_model_declares_its_token_limit_and_counts_cuts(embedder):
    assert embedder.max_tokens is not None and 400 < embedder.max_tokens < 512
    long_text = "wireless headphones " * 400
    assert embedder.count_tokens([long_text])[0] > 512
    cut = embedder.truncate(long_text, embedder.max_tokens)
    assert embedder.count_tokens([cut])[0] <= embedder.max_tokens and long_text.startswith(cut)
    before = embedder.truncations.count
    embedder.embed_documents([long_text, "short"])
    assert embedder.truncations.count == before + 1


def test_the_default_model_refuses_long_inputs_under_the_error_policy():
    from shopsearch.models.e5_onnx import E5SmallEmbedder

    strict = E5SmallEmbedder(threads=1, truncation="error")
    with pytest.raises(InputTooLong) as err:
        strict.embed_documents(["short", "wireless headphones " * 400])
    assert err.value.index == 1 and err.value.tokens > 512


def test_the_callers_mistakes_do_not_open_the_breaker():
    breaker = CircuitBreaker("m", threshold=2, cooldown_s=60)

    def too_long():
        raise InputTooLong(0, 9000, 512)

    for _ in range(5):
        with pytest.raises(InputTooLong):
            breaker.call(too_long, 1.0)
    assert breaker.state == "closed" and breaker.call(lambda: 7, 1.0) == 7
    for _ in range(2):
        with pytest.raises(ModelCallFailed):
            breaker.call(lambda: 1 / 0, 1.0)
    assert breaker.state == "open"


# -- opening and closing ----------------------------------------------------------
def test_a_failed_open_closes_what_it_had_built(tmp_path, monkeypatch):
    from shopsearch.index import backends

    closed = []
    real = backends.vector_index

    def tracked(*args, **kwargs):
        index = real(*args, **kwargs)
        original = index.close
        index.close = lambda: (closed.append(index), original())[1]
        return index

    def broken(*args, **kwargs):
        raise RuntimeError("keyword index unavailable")

    monkeypatch.setattr(backends, "vector_index", tracked)
    monkeypatch.setattr(backends, "keyword_index", broken)
    with pytest.raises(RuntimeError, match="keyword index unavailable"):
        Engine.open(tmp_path / "d", embedder=HashEmbedder())
    assert len(closed) == 1
    monkeypatch.undo()
    with Engine.open(tmp_path / "d", embedder=HashEmbedder()) as engine:  # the lock and files were released
        assert not engine.read_only
        engine.upsert(PRODUCTS[:2])


def test_a_bad_reranker_fails_the_open_and_leaves_the_directory_free(tmp_path):
    config = EngineConfig.from_env({"SHOPSEARCH_MODEL__RERANKER": "nonsense"})
    with Engine.open(tmp_path / "d", embedder=HashEmbedder()) as engine:
        engine.upsert(PRODUCTS[:2])
    with pytest.raises(ValueError, match="unknown model 'nonsense'"):
        Engine.open(tmp_path / "d", config, embedder=HashEmbedder())
    with Engine.open(tmp_path / "d", embedder=HashEmbedder()) as engine:
        assert not engine.read_only and len(engine) == 2
        engine.upsert(PRODUCTS[2:4])
        assert len(engine) == 4


def test_a_read_only_engine_closes_its_keyword_index(tmp_path):
    with Engine.open(tmp_path / "d", embedder=HashEmbedder()) as writer:
        writer.upsert(PRODUCTS[:3])
        reader = Engine.open(tmp_path / "d", embedder=HashEmbedder())
        assert reader.read_only and len(reader.search("running", mode="keyword").hits) == 3
        keyword = reader._backends.keyword
        calls = []
        original = keyword.close
        keyword.close = lambda: (calls.append(1), original())[1]
        reader.close()
        assert calls == [1]
        reader.close()  # twice is harmless


def test_engine_configs_are_frozen_dataclasses():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SearchConfig().ranker_depth = 3  # type: ignore[misc]
