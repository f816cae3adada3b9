"""The Milvus vector backend (milvus-lite file mode, a real Milvus engine in-process) against the embedded one."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import FEATURES, FIXTURES, ICECAT_MAP, ICECAT_SLICE, MilvusLiteServer, catalogue
from shopsearch.config import EngineConfig, VectorConfig
from shopsearch.eval.evaluator import evaluate
from shopsearch.eval.judgments import load_judgments
from shopsearch.index.milvus import row_filter


def _missing() -> str | None:
    import importlib.util

    for module in ("pymilvus", "milvus_lite"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'shopsearch[milvus]', in shopsearch[test])"
    return None


# A skip mark, not a module-level skip: each test then reports its own skip, which the conftest
# hook turns into a failure where SHOPSEARCH_REQUIRE_SUITES lists milvus (.ci/run).
MISSING = _missing()
pytestmark = [pytest.mark.milvus, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


def milvus_config(tmp_path) -> EngineConfig:
    return dataclasses.replace(EngineConfig(), vector=VectorConfig(backend="milvus", uri=f"milvus-lite:{tmp_path / 'milvus.db'}"))


@pytest.fixture(scope="module")
def engines(tmp_path_factory, embedder, icecat_items):
    from shopsearch import Engine

    folder = tmp_path_factory.mktemp("milvus")
    embedded = Engine.open(folder / "embedded", embedder=embedder)
    on_milvus = Engine.open(folder / "milvus-data", config=milvus_config(folder), embedder=embedder)
    for engine in (embedded, on_milvus):
        engine.upsert(icecat_items)
    yield embedded, on_milvus
    embedded.close()
    on_milvus.close()


def ids(response):
    return [hit.id for hit in response.hits]


def test_vector_search_and_filters_match_the_embedded_index(engines):
    embedded, on_milvus = engines
    for query in ("laptop bag", "bluetooth speaker", "funda para portátil", "蓝牙音箱"):
        ours, theirs = on_milvus.search(query, mode="vector", k=10), embedded.search(query, mode="vector", k=10)
        assert len(set(ids(ours)) & set(ids(theirs))) >= 9
        np.testing.assert_allclose([h.score for h in ours.hits][:3], [h.score for h in theirs.hits][:3], atol=1e-4)
    filtered = on_milvus.search("laptop bag", mode="vector", k=10, filters=["price<=30", "brand=Targus,Case Logic"])
    assert filtered.hits and all(h.item["price"] <= 30 and h.item["brand"] in ("Targus", "Case Logic") for h in filtered.hits)
    assert ids(filtered) == ids(embedded.search("laptop bag", mode="vector", k=10, filters=["price<=30", "brand=Targus,Case Logic"]))


def test_relevance_parity_on_the_judged_slice(engines):
    embedded, on_milvus = engines
    judged = load_judgments(FIXTURES / "icecat_slice_ratings.csv")
    for mode in ("vector", "hybrid"):
        ours = evaluate(on_milvus, judged, {"mode": mode}).summary()
        theirs = evaluate(embedded, judged, {"mode": mode}).summary()
        assert abs(ours["ndcg@10"] - theirs["ndcg@10"]) <= 0.01 * theirs["ndcg@10"], (mode, ours, theirs)


def test_writes_deletes_and_reopen_reach_milvus(tmp_path, embedder, icecat_items):
    from shopsearch import Engine

    config = milvus_config(tmp_path)
    with Engine.open(tmp_path / "data", config=config, embedder=embedder) as engine:
        engine.upsert(icecat_items[:30])
        gone = icecat_items[0].id
        engine.delete([gone])
        assert gone not in ids(engine.search(icecat_items[0].title, mode="vector", k=5))
        assert engine._backends.vector.count() == 29
    with Engine.open(tmp_path / "data", config=config, embedder=embedder) as engine:  # state survives a reopen
        assert engine._backends.vector.count() == 29 and engine._backends.vector.applied_seq == engine._backends.store.last_seq()
        assert ids(engine.search(icecat_items[1].title, mode="vector", k=1)) == [icecat_items[1].id]


def test_row_filter_is_the_shorter_exact_expression():
    mask = np.zeros(10, dtype=bool)
    mask[[2, 5]] = True
    assert row_filter(mask) == "row in [2,5]"
    assert row_filter(~mask) == "row not in [2,5]"
    assert row_filter(np.ones(4, dtype=bool)) == ""


@pytest.fixture
def milvus_server(tmp_path):
    """`milvus-lite server` over the network on 127.0.0.1, stopped by PID."""
    server = MilvusLiteServer(tmp_path / "milvus-server", tmp_path / "milvus-server.log")
    if not Path(server.program).exists():
        pytest.skip("the milvus-lite command is not installed")
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server.uri
    server.stop()


@pytest.mark.slow  # starts a `milvus-lite server` process
def test_a_networked_milvus_server_serves_the_same_results(milvus_server, engines, tmp_path, embedder, icecat_items):
    from shopsearch import Engine

    embedded, _ = engines
    config = dataclasses.replace(EngineConfig(), vector=VectorConfig(backend="milvus", uri=milvus_server))
    with Engine.open(tmp_path / "data", config=config, embedder=embedder) as engine:
        engine.upsert(icecat_items)
        for query in ("laptop bag", "regalo para papá"):
            assert len(set(ids(engine.search(query, mode="vector", k=10))) &
                       set(ids(embedded.search(query, mode="vector", k=10)))) >= 9
        filtered = engine.search("laptop bag", mode="vector", k=5, filters={"price": {"lte": 30}})
        assert filtered.hits and all(h.item["price"] <= 30 for h in filtered.hits)


@pytest.fixture
def milvus_2_3(tmp_path):
    """The real Milvus 2.3.5 server from PyPI (`milvus` package), every component on 127.0.0.1."""
    milvus = pytest.importorskip("milvus", reason="pip install milvus==2.3.5 (in shopsearch[test])")
    server = milvus.MilvusServer()
    server.set_base_dir(str(tmp_path / "milvus-2.3"))
    for component in ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode"):
        server.config.set(f"{component}.ip", "127.0.0.1")
    try:
        server.start()
    except Exception as exc:  # no binary for this platform, a port clash: say so rather than fail obscurely
        pytest.skip(f"Milvus 2.3.5 could not start here: {exc}")
    yield f"milvus://127.0.0.1:{server.config.get('proxy_port')}"
    server.stop()


@pytest.mark.slow  # starts the Milvus 2.3.5 server's processes
def test_dense_search_and_filters_on_a_real_milvus_2_3_server(milvus_2_3, engines, tmp_path, embedder, icecat_items,
                                                              monkeypatch):
    import shopsearch.index.milvus as milvus_common
    from shopsearch import Engine

    embedded, _ = engines
    config = dataclasses.replace(EngineConfig(), vector=VectorConfig(backend="milvus", uri=milvus_2_3))
    with Engine.open(tmp_path / "data", config=config, embedder=embedder) as engine:
        engine.upsert(icecat_items)
        assert engine._backends.vector.count() == len(icecat_items)
        for query in ("laptop bag", "蓝牙音箱"):
            assert len(set(ids(engine.search(query, mode="vector", k=10))) &
                       set(ids(embedded.search(query, mode="vector", k=10)))) >= 9
        filtered = engine.search("laptop bag", mode="hybrid", k=5, filters=["brand=Targus,Case Logic"])
        assert filtered.hits and {h.item["brand"] for h in filtered.hits} <= {"Targus", "Case Logic"}
        assert not engine._backends.vector.promoted  # no nullable scalar fields before 2.5: JSON copies only
        monkeypatch.setattr(milvus_common, "ROW_ID_LIMIT", -1)  # the same filters as server expressions
        for spec in (["brand=Targus,Case Logic"], ["price<=30", "attr_t_product_colour=black"]):
            assert ids(engine.search("laptop bag", mode="vector", k=10, filters=spec)) == \
                ids(embedded.search("laptop bag", mode="vector", k=10, filters=spec))
        engine.delete([icecat_items[0].id])
        assert engine._backends.vector.count() == len(icecat_items) - 1


def test_cli_index_option_puts_the_vector_leg_on_milvus(tmp_path):
    from click.testing import CliRunner

    from shopsearch.cli.main import cli

    uri = f"milvus-lite:{tmp_path / 'cli-milvus.db'}"
    mapping = [a for m in ICECAT_MAP for a in ("--map", m)]
    runner = CliRunner()
    built = runner.invoke(cli, ["index", str(ICECAT_SLICE), "--data-dir", str(tmp_path / "data"), "--index", uri, *mapping])
    assert built.exit_code == 0, built.output
    assert (tmp_path / "cli-milvus.db").exists() and not (tmp_path / "data" / "vector" / "state.json").exists()
    found = runner.invoke(cli, ["search", "laptop bag", "--data-dir", str(tmp_path / "data"), "--index", uri,
                                "--mode", "vector", "--json"])
    assert found.exit_code == 0, found.output
    assert len(__import__("json").loads(found.output)["results"]) == 10
    bad = runner.invoke(cli, ["search", "x", "--data-dir", str(tmp_path / "data"), "--index", "qdrant://h:1"])
    assert bad.exit_code == 2 and "milvus-lite:PATH or milvus://HOST:19530" in bad.output


SERVER_FILTERS = [
    ["brand=Targus,Case Logic"], ["brand!=HP"], ["price<=30"], ["price=10..40", "brand=targus"],
    {"attr_t_product_colour": "BLACK"}, ["attr_n_weight>500"], {"price": {"gt": 20, "lt": 60}},
    {"attr_t_product_colour": ["black", "red"], "price": {"gte": 15}}, ["brand=nobody"],
]


def test_filters_run_on_the_server_and_select_the_rows_the_engine_selects(engines, monkeypatch):
    import shopsearch.index.milvus as milvus_common
    from shopsearch.index.filters import parse_filters

    monkeypatch.setattr(milvus_common, "ROW_ID_LIMIT", -1)  # the slice is small: force the expressions
    _, on_milvus = engines
    index = on_milvus._backends.vector
    assert index.filters_on_server
    live = {hit["row"] for hit in index._client.query(index.collection, filter="row >= 0", output_fields=["row"],
                                                       consistency_level="Strong")}
    assert len(live) == len(on_milvus)
    for spec in SERVER_FILTERS:
        conditions = parse_filters(spec)
        mask = on_milvus._backends.mask(conditions)
        expression = index.filter_expression(mask, conditions)
        assert "row" not in expression, expression  # a real expression, not a list of row ids
        found = index._client.query(index.collection, filter=expression, output_fields=["row"], consistency_level="Strong")
        # (a negated condition's mask also covers row numbers no item holds)
        assert {hit["row"] for hit in found} == set(np.flatnonzero(mask).tolist()) & live, spec
    # Brand, category and price filters read the typed scalar columns; other fields the JSON copies.
    assert index.promoted == {"brand", "category", "price"}
    both = parse_filters(["brand=Targus,Case Logic", "price<=30", "attr_t_product_colour=black"])
    expression = index.filter_expression(on_milvus._backends.mask(both), both)
    assert 'brand in ["targus", "case logic"]' in expression and "price <= 30" in expression
    assert 'json_contains_any(keys["attr_t_product_colour"]' in expression
    # Free-text fields are not copied to the server: those conditions go as the row mask.
    conditions = parse_filters(["title=anything"])
    assert index.filter_expression(on_milvus._backends.mask(conditions), conditions).startswith("row ")
    monkeypatch.setattr(milvus_common, "ROW_ID_LIMIT", 10_000)  # short id lists go as ids
    conditions = parse_filters(["brand=Targus"])
    assert index.filter_expression(on_milvus._backends.mask(conditions), conditions).startswith("row in [")


def test_a_collection_without_filter_fields_filters_by_row_ids(tmp_path):
    from pymilvus import DataType, MilvusClient

    from shopsearch.index.filters import parse_filters
    from shopsearch.index.vector_milvus import MilvusVectorIndex

    uri = tmp_path / "legacy.db"
    client = MilvusClient(str(uri))
    schema = client.create_schema(auto_id=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=2)
    params = client.prepare_index_params()
    params.add_index("dense", index_type="HNSW", metric_type="COSINE", params={"M": 8, "efConstruction": 64})
    client.create_collection("legacy", schema=schema, index_params=params)
    client.close()
    index = MilvusVectorIndex(tmp_path / "state", 2, VectorConfig(backend="milvus", uri=f"milvus-lite:{uri}"), "legacy")
    assert not index.filters_on_server
    index.apply(1, [0, 1, 2], np.asarray([[1, 0], [0, 1], [1, 1]], dtype=np.float32) / [[1], [1], [2 ** 0.5]], [])
    mask = np.array([True, False, True])
    assert index.filter_expression(mask, parse_filters(["brand=hp"])) == "row not in [1]"  # the shorter form
    assert set(index.search(np.array([0, 1], np.float32), 3, mask, where=parse_filters(["brand=hp"]))[0].tolist()) == {0, 2}
    index.close()


def test_long_descriptions_chunk_vectors_live_in_their_own_collection(tmp_path, embedder):
    from shopsearch import Engine

    config = milvus_config(tmp_path)
    with Engine.open(tmp_path / "long", config=config, embedder=embedder) as engine:
        engine.upsert(catalogue())
        assert engine.stats()["chunk_index"]["chunks"] >= 24 * 3
        for n, query in [(3, "waterproof for scuba diving"), (11, "long battery life for music")]:
            assert n in FEATURES
            assert [h.id for h in engine.search(query, mode="vector", k=1).hits] == [str(n)]
        assert engine.search("waterproof for scuba diving", mode="vector", k=3, filters={"id": ["3", "4"]}).hits[0].id == "3"
        client = engine._backends.vector._client
        assert client.has_collection("shopsearch_items_chunks")
    with Engine.open(tmp_path / "long", config=config, embedder=embedder) as engine:  # survives a reopen
        assert [h.id for h in engine.search("non-stick pan for eggs", mode="vector", k=1).hits] == ["17"]


# -- BM25 on the server (KeywordConfig.backend = "milvus") ------------------------------------

def server_keyword_config(uri: str) -> EngineConfig:
    base = EngineConfig()
    return dataclasses.replace(base, vector=VectorConfig(backend="milvus", uri=uri),
                               keyword=dataclasses.replace(base.keyword, backend="milvus"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_escaped_terms_are_one_plain_word_and_stay_distinct(a, b):
    from shopsearch.index.milvus import escape_term

    assert re.fullmatch(r"[a-z0-9]*", escape_term(a))
    assert (escape_term(a) == escape_term(b)) == (a == b)


@pytest.fixture(scope="module")
def server_bm25(tmp_path_factory, embedder, icecat_items, engines):
    from shopsearch import Engine

    folder = tmp_path_factory.mktemp("milvus-bm25")
    engine = Engine.open(folder / "data", config=server_keyword_config(f"milvus-lite:{folder / 'milvus.db'}"),
                         embedder=embedder)
    engine.upsert(icecat_items)
    # Flushed, as `shopsearch index` leaves a load: milvus-lite scores a filtered BM25 search over
    # a growing (unflushed) segment with statistics of the filtered rows only.
    engine._backends.save_vectors()
    yield engine
    engine.close()


def test_server_bm25_ranks_like_the_local_keyword_index(server_bm25, engines):
    from shopsearch.index.keyword_milvus import SharedMilvusKeywordIndex

    embedded, _ = engines
    assert isinstance(server_bm25._backends.keyword, SharedMilvusKeywordIndex) and server_bm25._backends.keyword.count() == len(embedded)
    overlaps = []
    for query in ("laptop bag", "wireless mouse", "hp toner", "usb-c cable", "funda para portátil", "蓝牙音箱"):
        ours, theirs = ids(server_bm25.search(query, mode="keyword", k=10)), ids(embedded.search(query, mode="keyword", k=10))
        if theirs:
            overlaps.append(len(set(ours) & set(theirs)) / len(theirs))
            assert ours[0] in theirs[:3]  # the best local hit's neighbourhood agrees
    assert np.mean(overlaps) >= 0.7
    judged = load_judgments(FIXTURES / "icecat_slice_ratings.csv")
    for mode in ("keyword", "hybrid"):
        ours = evaluate(server_bm25, judged, {"mode": mode}).summary()["ndcg@10"]
        theirs = evaluate(embedded, judged, {"mode": mode}).summary()["ndcg@10"]
        assert ours >= 0.95 * theirs, (mode, ours, theirs)


def test_server_bm25_filters_deletes_and_reopen(tmp_path, embedder, icecat_items, monkeypatch):
    import shopsearch.index.milvus as milvus_common
    from shopsearch import Engine

    config = server_keyword_config(f"milvus-lite:{tmp_path / 'milvus.db'}")
    with Engine.open(tmp_path / "data", config=config, embedder=embedder) as engine:
        engine.upsert(icecat_items)
        for limit in (10_000, -1):  # the filter as row ids, then as a deeper unfiltered read
            monkeypatch.setattr(milvus_common, "ROW_ID_LIMIT", limit)
            hits = engine.search("laptop bag", mode="keyword", k=10, filters=["brand=Targus,Case Logic"]).hits
            assert hits and {h.item["brand"] for h in hits} <= {"Targus", "Case Logic"}
        gone = ids(engine.search("laptop bag", mode="keyword", k=1))[0]
        engine.delete([gone])
        assert gone not in ids(engine.search("laptop bag", mode="keyword", k=20))
        count, seq = engine._backends.keyword.count(), engine._backends.store.last_seq()
    with Engine.open(tmp_path / "data", config=config, embedder=embedder) as engine:  # nothing replayed twice
        assert engine._backends.keyword.count() == count == len(icecat_items) - 1 and engine._backends.keyword.applied_seq == seq


@pytest.mark.slow  # starts a `milvus-lite server` process
def test_server_bm25_over_the_network(milvus_server, tmp_path, embedder, icecat_items, engines):
    from shopsearch import Engine

    embedded, _ = engines
    with Engine.open(tmp_path / "data", config=server_keyword_config(milvus_server), embedder=embedder) as engine:
        engine.upsert(icecat_items)
        ours, theirs = ids(engine.search("laptop bag", mode="keyword", k=10)), ids(embedded.search("laptop bag", mode="keyword", k=10))
        assert len(set(ours) & set(theirs)) >= 7


@pytest.mark.slow  # starts the Milvus 2.3.5 server's processes
def test_a_milvus_2_3_server_says_bm25_needs_2_5(milvus_2_3, tmp_path, embedder):
    from shopsearch import Engine
    from shopsearch.search.engine import DataDirError

    with pytest.raises(DataDirError, match=r"is 2\.3: BM25 needs Milvus 2\.5 or later.*SHOPSEARCH_KEYWORD__BACKEND=tantivy"):
        Engine.open(tmp_path / "data", config=server_keyword_config(milvus_2_3), embedder=embedder)


def test_promoted_columns_treat_missing_values_as_the_local_filter_does(tmp_path, embedder):
    from shopsearch import Engine
    from shopsearch.index.filters import parse_filters, server_expression
    from shopsearch.index.items import Item
    from shopsearch.index.vector_milvus import MilvusVectorIndex

    index = MilvusVectorIndex(tmp_path / "state", 2, VectorConfig(backend="milvus", uri=f"milvus-lite:{tmp_path / 'm.db'}"),
                              "promoted")
    records = [{"id": "a", "title": "x", "brand": "HP", "price": 10.0, "category": "Printers"},
               {"id": "b", "title": "y"},  # no brand, category or price: nulls in the typed columns
               {"id": "c", "title": "z", "brand": "Dell", "price": 100.0}]
    index.apply(1, [0, 1, 2], np.asarray([[1, 0], [0, 1], [1, 1]], dtype=np.float32) / [[1], [1], [2 ** 0.5]], [], records)
    expected = {"brand=hp": {0}, "brand!=HP": {1, 2}, "price<=50": {0}, "price>50": {2},
                "category=printers": {0}, "category!=printers": {1, 2}}
    for spec, rows in expected.items():
        conditions = parse_filters([spec])
        typed = server_expression(conditions, index.promoted)
        assert "keys[" not in typed and "num_" not in typed, typed
        found = {hit["row"] for hit in index._client.query("promoted", filter=typed, output_fields=["row"],
                                                            consistency_level="Strong")}
        assert found == rows, (spec, typed)
    with Engine.open(tmp_path / "local", embedder=embedder) as local:  # the same items, filtered locally
        local.upsert([Item.from_record(r) for r in records])
        by_id = {r["id"]: i for i, r in enumerate(records)}
        for spec, rows in expected.items():
            hits = local.search("x y z", mode="keyword", k=10, filters=[spec]).hits + \
                local.search("x", mode="vector", k=10, filters=[spec]).hits
            assert {by_id[h.id] for h in hits} == rows, spec
    index.close()


# -- fusion on the server (both legs in one collection, hybrid_search with RRF) -----------------

def rrf_here(engine, query, filters=None, depth=100):
    """The engine's two Milvus legs fetched separately and fused by shopsearch's own RRF."""
    from shopsearch.index.filters import parse_filters
    from shopsearch.search.fusion import fuse

    allowed = engine._backends.mask(parse_filters(filters)) if filters else None
    query_vector = engine.embedder.embed_queries([query])[0]
    legs = [engine._backends.keyword.search(engine._backends.analyzer.groups(query), depth, allowed),
            engine._backends.vector.search(query_vector, depth, allowed)]
    rows, scores = fuse(legs, (1.0, 1.0), "rrf", 60.0)
    return dict(zip(rows.tolist(), scores.tolist())), legs


# Translation off: the reference below fuses the legs of the query as typed.
RRF_EQUAL = {"mode": "hybrid", "fusion": "rrf", "keyword_weight": 1.0, "vector_weight": 1.0, "translate": False}


def test_hybrid_rrf_is_fused_on_the_server_as_shopsearch_fuses_it(server_bm25, monkeypatch):
    import shopsearch.index.milvus as milvus_common
    from shopsearch.index.filters import parse_filters

    for query, filters in (("laptop bag", None), ("wireless mouse", None), ("funda para portátil", None),
                           ("laptop bag", ["brand=Targus,Case Logic"]), ("usb-c cable", ["price<=30"])):
        for limit in (10_000, -1):  # filters as row ids, then as expressions over the typed columns
            monkeypatch.setattr(milvus_common, "ROW_ID_LIMIT", limit)
            response = server_bm25.search(query, k=10, filters=filters, **RRF_EQUAL)
            assert "server_fusion_ms" in response.timings and "keyword_ms" not in response.timings  # one server call
            expected, legs = rrf_here(server_bm25, query, filters)
            row_of = {record["id"]: row for row, record in server_bm25._backends.store.records(list(expected)).items()}
            rows = [row_of[h.id] for h in response.hits]  # every hit comes from the two legs
            # The same fused scores (ties may swap places), the same best-first order of scores.
            np.testing.assert_allclose([h.score for h in response.hits], [expected[r] for r in rows], rtol=1e-5)
            np.testing.assert_allclose([h.score for h in response.hits], sorted(expected.values(), reverse=True)[:10],
                                       rtol=1e-5)
            if filters:
                assert response.hits and all(server_bm25._backends.mask(parse_filters(filters))[rows])
            # Explanations: each leg's own score and rank, from the same two searches asked separately.
            for leg, score_of, rank_of in ((legs[0], "keyword_score", "keyword_rank"), (legs[1], "vector_score", "vector_rank")):
                place = {row: (score, rank) for rank, (row, score) in enumerate(zip(*leg), start=1)}
                for row, hit in zip(rows, response.hits):
                    score, rank = place.get(row, (None, None))
                    assert getattr(hit.explanation, rank_of) == rank
                    assert getattr(hit.explanation, score_of) == (None if score is None else pytest.approx(score, rel=1e-4))
            assert all(h.explanation.matched_terms for h in response.hits if h.explanation.keyword_score is not None)
            # Without explanations: the same ranking from the one hybrid call.
            plain = server_bm25.search(query, k=10, filters=filters, explain=False, **RRF_EQUAL)
            assert [h.score for h in plain.hits] == [h.score for h in response.hits] and "explain_ms" not in plain.timings
            assert all(h.explanation.keyword_rank is None and not h.explanation.matched_terms for h in plain.hits)


def test_what_the_server_cannot_fuse_is_fused_here(server_bm25, monkeypatch):
    import shopsearch.index.milvus as milvus_common
    import shopsearch.index.vector_milvus as vector_milvus

    for params in ({"mode": "hybrid"}, {**RRF_EQUAL, "vector_weight": 0.4}, {**RRF_EQUAL, "rrf_k": 60.5},
                   {**RRF_EQUAL, "exact": True}):
        response = server_bm25.search("laptop bag", k=10, **params)  # min-max, weighted RRF, fractional k, exact
        assert "keyword_ms" in response.timings and "server_fusion_ms" not in response.timings, params
        assert response.hits and response.hits[0].explanation.keyword_rank is not None
    off = dataclasses.replace(server_bm25.config, search=dataclasses.replace(server_bm25.config.search, server_fusion=False))
    monkeypatch.setattr(server_bm25._context, "config", off)  # SHOPSEARCH_SEARCH__SERVER_FUSION=false
    assert "server_fusion_ms" not in server_bm25.search("laptop bag", k=10, **RRF_EQUAL).timings
    monkeypatch.undo()
    # A filter the server could only take as a long row-id list: the legs are fetched and fused here.
    monkeypatch.setattr(milvus_common, "ROW_ID_LIMIT", -1)
    monkeypatch.setattr(vector_milvus, "server_expression", lambda *args: None)
    response = server_bm25.search("laptop bag", k=10, filters=["brand=Targus,Case Logic"], **RRF_EQUAL)
    assert "keyword_ms" in response.timings and "server_fusion_ms" not in response.timings
    assert response.hits and {h.item["brand"] for h in response.hits} <= {"Targus", "Case Logic"}


def test_server_fused_relevance_matches_local_rrf(server_bm25, engines):
    embedded, _ = engines
    judged = load_judgments(FIXTURES / "icecat_slice_ratings.csv")
    ours = evaluate(server_bm25, judged, RRF_EQUAL).summary()
    theirs = evaluate(embedded, judged, RRF_EQUAL).summary()
    assert abs(ours["ndcg@10"] - theirs["ndcg@10"]) <= 0.02 * theirs["ndcg@10"], (ours, theirs)


def test_a_collection_made_before_it_held_text_keeps_bm25_beside_it(tmp_path, embedder, icecat_items):
    from shopsearch import Engine
    from shopsearch.index.keyword_milvus import MilvusKeywordIndex, SharedMilvusKeywordIndex

    uri = f"milvus-lite:{tmp_path / 'milvus.db'}"
    with Engine.open(tmp_path / "data", config=milvus_config(tmp_path), embedder=embedder) as engine:
        engine.upsert(icecat_items[:40])  # vectors only: BM25 is tantivy's
    with Engine.open(tmp_path / "data", config=server_keyword_config(uri), embedder=embedder) as engine:
        assert isinstance(engine._backends.keyword, MilvusKeywordIndex) and engine._backends.keyword.count() == 40
        response = engine.search(icecat_items[3].title, k=5, **RRF_EQUAL)
        assert "keyword_ms" in response.timings and response.hits[0].id == icecat_items[3].id
    # And the other way: a collection holding text, written through a tantivy-keyword engine, stays whole.
    fresh = tmp_path / "fresh"
    with Engine.open(fresh / "data", config=server_keyword_config(f"milvus-lite:{fresh / 'm.db'}"), embedder=embedder) as engine:
        engine.upsert(icecat_items[:20])
        assert isinstance(engine._backends.keyword, SharedMilvusKeywordIndex)
    vectors_only = dataclasses.replace(EngineConfig(), vector=VectorConfig(backend="milvus", uri=f"milvus-lite:{fresh / 'm.db'}"))
    with Engine.open(fresh / "data", config=vectors_only, embedder=embedder) as engine:
        engine.upsert(icecat_items[20:30])
    with Engine.open(fresh / "data", config=server_keyword_config(f"milvus-lite:{fresh / 'm.db'}"), embedder=embedder) as engine:
        assert engine._backends.keyword.count() == 30
        assert ids(engine.search(icecat_items[25].title, mode="keyword", k=1)) == [icecat_items[25].id]


@pytest.mark.slow  # starts a `milvus-lite server` process
def test_server_fusion_over_the_network(milvus_server, tmp_path, embedder, icecat_items, engines):
    from shopsearch import Engine

    embedded, _ = engines
    with Engine.open(tmp_path / "data", config=server_keyword_config(milvus_server), embedder=embedder) as engine:
        engine.upsert(icecat_items)
        response = engine.search("laptop bag", k=10, **RRF_EQUAL)
        assert "server_fusion_ms" in response.timings
        assert len(set(ids(response)) & set(ids(embedded.search("laptop bag", k=10, **RRF_EQUAL)))) >= 7
