import pytest

from helpers import HashEmbedder
from shopsearch import DataDirError, Engine, InvalidRequest
from shopsearch.search.resilience import ModelCallFailed


def ids(response):
    return [h.id for h in response.hits]


def test_keyword_vector_and_hybrid_find_the_product(icecat_engine):
    for mode in ("keyword", "vector", "hybrid"):
        response = icecat_engine.search("aa batteries", mode=mode, k=5)
        assert response.mode == mode and len(response.hits) == 5
        assert any("AA" in h.item["title"] for h in response.hits[:3]), mode


def test_every_result_explains_itself(icecat_engine):
    response = icecat_engine.search("camera bag", mode="hybrid", k=10)
    top = response.hits[0].explanation
    assert top.keyword_rank is not None and top.vector_rank is not None
    assert top.fused_score == pytest.approx(response.hits[0].score)
    assert "camera" in top.matched_terms["title"] and "bag" in top.matched_terms["title"]
    keyword_only = icecat_engine.search("camera bag", mode="keyword", k=3).hits[0].explanation
    assert keyword_only.vector_rank is None and keyword_only.vector_score is None


def test_multilingual_query_reaches_english_products_by_vector(icecat_engine):
    response = icecat_engine.search("altavoz bluetooth", mode="vector", k=5)  # Spanish: bluetooth speaker
    assert any("speaker" in h.item["title"].lower() for h in response.hits)


def test_filters_price_brand_and_attributes(icecat_engine):
    response = icecat_engine.search("bag", k=20, filters=["price<=30", "brand=Case Logic,Targus"])
    assert response.hits
    for hit in response.hits:
        assert hit.item["price"] <= 30 and hit.item["brand"] in ("Case Logic", "Targus")
    as_mapping = icecat_engine.search("bag", k=20, filters={"price": {"lte": 30}, "brand": ["case logic", "TARGUS"]})
    assert ids(as_mapping) == ids(response)


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_a_selective_filter_still_returns_k(icecat_engine, mode):
    # Only a few products are cheap Duracell ones, and they are far down any
    # unfiltered ranking for "laptop": a post-filtered top k would be empty.
    allowed = {h.id for h in icecat_engine.search("duracell", mode="keyword", k=1000, filters=["brand=Duracell"]).hits}
    assert len(allowed) >= 3
    k = len(allowed) - 1
    query = "laptop" if mode != "keyword" else "battery"
    response = icecat_engine.search(query, mode=mode, k=k, filters=["brand=Duracell"])
    assert len(response.hits) == k and {h.id for h in response.hits} <= allowed


def test_upsert_replaces_and_delete_removes_from_both_legs(icecat_engine):
    engine = icecat_engine
    before = len(engine)
    engine.upsert([{"id": "new-1", "title": "Zorblax quantum toaster", "brand": "Zorb", "price": 12}])
    assert len(engine) == before + 1
    assert ids(engine.search("zorblax", mode="keyword", k=1)) == ["new-1"]
    engine.upsert([{"id": "new-1", "title": "Quibbly espresso grinder", "price": 99}])
    assert len(engine) == before + 1
    assert engine.get("new-1")["title"] == "Quibbly espresso grinder"
    assert "new-1" not in ids(engine.search("zorblax", mode="keyword", k=5))
    assert ids(engine.search("quibbly", mode="keyword", k=1)) == ["new-1"]
    assert engine.search("anything", k=5, filters=["price=99"]).hits[0].id == "new-1"
    assert engine.delete(["new-1", "never-existed"]).count == 1
    assert engine.get("new-1") is None
    for mode in ("keyword", "vector", "hybrid"):
        assert "new-1" not in ids(engine.search("quibbly espresso grinder", mode=mode, k=50))
    # An id can come back after deletion.
    engine.upsert([{"id": "new-1", "title": "Zorblax returns"}])
    assert ids(engine.search("zorblax", mode="keyword", k=1)) == ["new-1"]


def test_everything_survives_reopen(open_engine, icecat_items, tmp_path):
    engine = open_engine(tmp_path / "d")
    engine.upsert(icecat_items[:50])
    engine.delete([icecat_items[0].id])
    expected = ids(engine.search("battery", k=5))
    engine.close()
    again = open_engine(tmp_path / "d")
    assert len(again) == 49 and again.get(icecat_items[0].id) is None
    assert ids(again.search("battery", k=5)) == expected


def test_a_second_opener_reads_while_the_first_writes(open_engine, icecat_items, tmp_path):
    writer = open_engine(tmp_path / "d")
    writer.upsert(icecat_items[:20])
    reader = open_engine(tmp_path / "d")
    assert reader.read_only and len(reader) == 20
    assert reader.search(icecat_items[3].title, mode="keyword", k=1).hits[0].id == icecat_items[3].id
    with pytest.raises(DataDirError, match="read-only"):
        reader.upsert(icecat_items[20:21])


def test_a_directory_built_with_another_model_is_refused(open_engine, tmp_path):
    engine = open_engine(tmp_path / "d", embedder=HashEmbedder())
    engine.upsert([{"id": "1", "title": "one"}])
    engine.close()
    with pytest.raises(DataDirError, match="hash-test"):
        open_engine(tmp_path / "d")


def test_missing_directory_is_a_clear_error(tmp_path, embedder):
    with pytest.raises(DataDirError, match="no shopsearch index"):
        Engine.open(tmp_path / "nothing", create=False, embedder=embedder)


@pytest.mark.parametrize(
    "kwargs,param",
    [
        (dict(query=""), "query"),
        (dict(query="   "), "query"),
        (dict(query="x", mode="fuzzy"), "mode"),
        (dict(query="x", k=0), "k"),
        (dict(query="x", k=5000), "k"),
        (dict(query="x", fusion="borda"), "fusion"),
        (dict(query="x", vector_weight=-1), "weights"),
        (dict(query="x", rrf_k=0), "rrf_k"),
        (dict(query="x", filters=["price<=cheap"]), "filters"),
    ],
)
def test_bad_requests_name_the_culprit(icecat_engine, kwargs, param):
    query = kwargs.pop("query")
    with pytest.raises(InvalidRequest) as err:
        icecat_engine.search(query, **kwargs)
    assert err.value.param == param


def test_bad_items_are_refused_and_nothing_is_written(icecat_engine):
    before = len(icecat_engine)
    with pytest.raises(ValueError, match="missing title"):
        icecat_engine.upsert([{"id": "ok", "title": "fine"}, {"id": "bad"}])
    assert len(icecat_engine) == before and icecat_engine.get("ok") is None


def test_hybrid_falls_back_to_keyword_when_the_model_is_down(open_engine, tmp_path):
    model = HashEmbedder()
    engine = open_engine(tmp_path / "d", embedder=model)
    engine.upsert([{"id": "1", "title": "red running shoe"}, {"id": "2", "title": "blue kettle"}])
    model.fail = True
    response = engine.search("running shoe", mode="hybrid", k=2)
    assert ids(response) == ["1"] and response.degraded and "keyword-only" in response.warnings[0]
    assert response.to_dict()["degraded_reason"].startswith("vector leg skipped: embedding model failed: model server unreachable")
    with pytest.raises(ModelCallFailed, match="model server unreachable"):
        engine.search("running shoe", mode="vector")
    # A failing model leaves the catalogue untouched on write, too.
    with pytest.raises(ConnectionError):
        engine.upsert([{"id": "3", "title": "green tea"}])
    assert len(engine) == 2


def test_fusion_options_change_the_ranking_per_request(icecat_engine):
    keyword = ids(icecat_engine.search("speaker", mode="keyword", k=10))
    vector = ids(icecat_engine.search("speaker", mode="vector", k=10))
    assert ids(icecat_engine.search("speaker", k=10, fusion="rrf", vector_weight=0.0)) == keyword
    assert ids(icecat_engine.search("speaker", k=10, fusion="minmax", keyword_weight=0.0))[:5] == vector[:5]


def test_stats(icecat_engine):
    stats = icecat_engine.stats()
    assert stats["items"] == stats["keyword_index"]["docs"] == stats["vector_index"]["vectors"] == 213
    assert stats["model"] == {"name": "multilingual-e5-small-q4-int8", "dim": 384}


def test_filters_follow_writes(icecat_engine):
    engine = icecat_engine
    engine.upsert([{"id": "f1", "title": "Glimmer desk lamp", "brand": "Lumo", "price": 20}])
    assert ids(engine.search("lamp", k=5, filters=["brand=Lumo"])) == ["f1"]  # column now cached
    engine.upsert([{"id": "f1", "title": "Glimmer desk lamp", "brand": "Brightly", "price": 35}])
    assert engine.search("lamp", k=5, filters=["brand=Lumo"]).hits == []
    assert ids(engine.search("lamp", k=5, filters=["brand=Brightly", "price>30"])) == ["f1"]
    engine.delete(["f1"])
    assert engine.search("lamp", k=5, filters=["brand=Brightly"]).hits == []


def test_unchanged_items_are_not_embedded_or_written_again(open_engine, icecat_items, tmp_path):
    class Counting(HashEmbedder):
        texts = 0

        def embed_documents(self, texts, dimensions=None):
            Counting.texts += len(texts)
            return super().embed_documents(texts, dimensions)

    engine = open_engine(tmp_path / "resume", embedder=Counting())
    first = engine.upsert(icecat_items[:50])
    assert first.count == 50 and first.unchanged == 0 and Counting.texts >= 50
    embedded, version = Counting.texts, engine.version
    # A re-run (say after a crash) over batches already committed: no model calls, no new version.
    again = engine.upsert(icecat_items[:50])
    assert (again.count, again.unchanged, again.seq) == (50, 50, first.seq)
    assert Counting.texts == embedded and engine.version == version
    # One changed item and one new one: only those two are embedded and written.
    changed = dict(icecat_items[0].to_record(), title="a brand new title")
    mixed = engine.upsert([changed, *icecat_items[1:50], icecat_items[50]])
    assert (mixed.count, mixed.unchanged) == (51, 49) and Counting.texts == embedded + 2
    assert engine.get(changed["id"])["title"] == "a brand new title"
    assert ids(engine.search("brand new title", mode="keyword", k=1)) == [changed["id"]]
