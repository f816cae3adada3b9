"""Query understanding in the pipeline: price wording as a filter, typos, synonyms, brand words,
sort and suggestions, each kept current as the catalogue is written."""

from __future__ import annotations

import pytest

from helpers import HashEmbedder
from shopsearch import Engine, InvalidRequest
from shopsearch.config import EngineConfig, UnderstandConfig
from shopsearch.text.synonyms import parse_synonyms

PRODUCTS = [
    {"id": "bag-1", "title": "Laptop bag in black nylon", "brand": "Targus", "price": 43.95, "released": "2021-03-01"},
    {"id": "bag-2", "title": "Laptop bag with shoulder strap", "brand": "Case Logic", "price": 39.95, "released": "2023-06-15"},
    {"id": "bag-3", "title": "Slim laptop bag", "brand": "Targus", "price": 24.50, "released": "2022-01-10"},
    {"id": "bag-4", "title": "Laptop sleeve bag", "brand": "Dicota", "price": 19.00},
    {"id": "ear-1", "title": "蓝牙耳机 降噪", "brand": "华为", "price": 499.0},
    {"id": "ear-2", "title": "有线耳机", "brand": "小米", "price": 89.0},
    {"id": "mon-1", "title": "Monitor enclosure 500", "brand": "Acme", "price": 497.95},
    {"id": "head-1", "title": "Wireless headphones with microphone", "brand": "Sony", "price": 120.0},
    {"id": "note-1", "title": "Notebook backpack", "brand": "Dicota", "price": 55.0},
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine.open(tmp_path_factory.mktemp("understand") / "data", embedder=HashEmbedder())
    engine.upsert(PRODUCTS)
    yield engine
    engine.close()


def ids(response):
    return [h.id for h in response.hits]


def test_price_wording_becomes_a_filter_and_leaves_the_search_text(engine):
    response = engine.search("laptop bag under 30")
    assert set(ids(response)) == {"bag-3", "bag-4"}
    assert response.understood.text == "laptop bag" and response.understood.filters == {"price": {"lt": 30.0}}
    [span] = response.understood.spans
    assert "laptop bag under 30"[span["start"]:span["end"]].strip() == span["text"].strip() and "30" in span["text"]
    off = engine.search("laptop bag under 30", understand=False)
    assert off.understood is None and {"bag-1", "bag-2"} <= set(ids(off))


def test_chinese_around_a_price_searches_the_words_left(engine):
    response = engine.search("耳机 500元左右", mode="keyword")
    assert ids(response) == ["ear-1"]  # not the monitor enclosure that matched "500" as a word
    assert response.understood.text == "耳机" and response.understood.filters == {"price": {"gte": 400.0, "lte": 600.0}}


def test_an_explicit_filter_is_anded_with_the_understood_one(engine):
    response = engine.search("laptop bag under 45", filters={"brand": "Targus"})
    assert set(ids(response)) == {"bag-1", "bag-3"}


def test_typos_are_corrected_to_catalogue_words_beside_the_original(engine):
    response = engine.search("wireless headphnoes", mode="keyword")
    assert ids(response)[0] == "head-1"
    assert {"from": "headphnoes", "to": "headphones"} in response.understood.corrections
    assert response.understood.did_you_mean == "wireless headphones"
    priced = engine.search("wireless headphnoes under 200", mode="keyword").understood
    assert priced.did_you_mean == "wireless headphones under 200"  # the query as typed, corrected
    assert engine.search("headphnoes", mode="keyword", understand=False).hits == []
    # model codes and words already in the catalogue stay as typed
    assert engine.search("dv7-1211ea laptop", mode="keyword").understood.corrections == []


def test_a_brand_word_boosts_that_brands_products(engine):
    response = engine.search("targus laptop bag", mode="keyword")
    assert {"field": "brand", "value": "Targus", "text": "targus", "use": "boost"} in response.understood.entities
    assert set(ids(response)[:2]) == {"bag-1", "bag-3"}


def test_sort_orders_the_relevant_results_and_puts_missing_values_last(engine):
    cheap = engine.search("laptop bag", sort="price:asc", mode="keyword")
    prices = [h.item["price"] for h in cheap.hits]
    assert prices == sorted(prices) and "ear-1" not in ids(cheap)  # relevant results only
    dear = engine.search("laptop bag", sort="price:desc", mode="keyword")
    assert [h.item["price"] for h in dear.hits] == sorted(prices, reverse=True)
    newest = engine.search("laptop bag", sort="released:desc", mode="keyword")
    assert ids(newest)[:3] == ["bag-2", "bag-3", "bag-1"] and ids(newest)[-1] == "bag-4"  # no date: last
    for bad in ("colour:asc", "price:up", "newest", ""):
        with pytest.raises(InvalidRequest) as err:
            engine.search("laptop bag", sort=bad)
        assert err.value.param == "sort"


def test_synonyms_join_the_keyword_leg_and_change_the_version(engine):
    before = engine.version
    assert "note-1" not in ids(engine.search("laptop", mode="keyword"))
    engine.set_synonyms(parse_synonyms("laptop => notebook\n"))
    try:
        assert engine.version > before
        response = engine.search("laptop", mode="keyword")
        assert "note-1" in ids(response)
        [note] = [h for h in response.hits if h.id == "note-1"]
        assert note.explanation.matched_terms == {"title": ["notebook"]}  # explained by the synonym
        assert response.understood.synonyms == [{"phrase": "laptop", "alternatives": ["notebook"]}]
    finally:
        engine.set_synonyms(())
    assert "note-1" not in ids(engine.search("laptop", mode="keyword"))


def test_synonyms_are_stored_with_the_catalogue(tmp_path):
    with Engine.open(tmp_path / "d", embedder=HashEmbedder()) as engine:
        engine.upsert(PRODUCTS[:2])
        engine.set_synonyms(parse_synonyms("tv, television\n"))
    with Engine.open(tmp_path / "d", embedder=HashEmbedder()) as engine:
        assert engine.synonyms.to_text() == "tv, television\n"


def test_the_lexicon_follows_writes(tmp_path):
    with Engine.open(tmp_path / "d", embedder=HashEmbedder()) as engine:
        engine.upsert(PRODUCTS)
        assert engine.search("keybaord", mode="keyword").understood.corrections == []
        engine.upsert([{"id": "kb-1", "title": "Mechanical keyboard", "brand": "Cherry", "price": 80}])
        assert engine.search("keybaord", mode="keyword").understood.corrections == [{"from": "keybaord", "to": "keyboard"}]
        assert any(s.text.lower().startswith("cherry") for s in engine.suggest("cher"))
        engine.delete(["kb-1"])
        assert engine.search("keybaord", mode="keyword").understood.corrections == []
        assert not any(s.text.lower().startswith("cherry") for s in engine.suggest("cher"))


def test_suggestions_complete_brands_titles_and_chinese_prefixes(engine):
    assert any(s.text == "Targus" and s.kind == "brand" for s in engine.suggest("targ"))
    assert any("laptop bag" in s.text.lower() for s in engine.suggest("laptop b"))
    assert any(s.text.startswith("蓝牙") for s in engine.suggest("蓝牙"))


def test_a_query_naming_a_product_type_lifts_products_of_it_over_accessories_for_it(tmp_path):
    products = [{"id": "pad", "title": "Kensington Gel Mouse Pad Black", "brand": "Kensington", "colour": "Black"},
                {"id": "rest", "title": "Fellowes Mouse Wrist Rest", "brand": "Fellowes"},
                {"id": "mouse", "title": "HP Bluetooth Laser Mouse", "brand": "HP"}]
    config = EngineConfig(understand=UnderstandConfig(type_boost=2.0))
    with Engine.open(tmp_path / "d", config, embedder=HashEmbedder()) as engine:
        engine.upsert(products)
        off = engine.search("mouse", mode="keyword", understand=False)
        assert ids(off)[0] != "mouse"  # the accessories' short titles win on BM25 alone
        response = engine.search("mouse", mode="keyword")
        assert ids(response)[0] == "mouse"
        assert {"field": "type", "value": "mouse", "text": "mouse", "use": "boost"} in response.understood.entities
        assert ids(engine.search("mouse pad", mode="keyword"))[0] == "pad"  # the type named last is a pad


def test_a_rare_word_is_not_corrected_to_a_word_already_in_the_query_or_to_its_own_stem(tmp_path):
    products = [{"id": f"l{i}", "title": f"LED light {i} with cords"} for i in range(60)]
    products += [{"id": "n", "title": "Night vision camera"}, {"id": "c", "title": "Extension cord"}]
    with Engine.open(tmp_path / "d", embedder=HashEmbedder()) as engine:
        engine.upsert(products)
        assert engine.search("night light", mode="keyword").understood.corrections == []
        assert engine.search("extension cord", mode="keyword").understood.corrections == []  # "cords" is its stem
        assert engine.search("ligth", mode="keyword").understood.corrections == [{"from": "ligth", "to": "light"}]
        assert engine.search("nigth vision", mode="keyword").understood.corrections == [{"from": "nigth", "to": "night"}]


def test_entity_words_can_be_filters_and_follow_writes(tmp_path):
    config = EngineConfig(understand=UnderstandConfig(entities="filter"))
    with Engine.open(tmp_path / "d", config, embedder=HashEmbedder()) as engine:
        engine.upsert(PRODUCTS)
        response = engine.search("targus bag", mode="keyword")
        assert set(ids(response)) == {"bag-1", "bag-3"}
        assert response.understood.filters == {"brand": {"in": ["Targus"]}}
        assert engine.search("acer bag", mode="keyword").understood.entities == []
        engine.upsert([{"id": "acer-1", "title": "Acer laptop bag", "brand": "Acer", "price": 30}])
        assert ids(engine.search("acer bag", mode="keyword")) == ["acer-1"]
        engine.delete(["acer-1"])
        assert engine.search("acer bag", mode="keyword").understood.entities == []


def test_multi_word_and_chinese_brand_names_are_recognised(engine):
    entities = engine.search("case logic bag", mode="keyword").understood.entities
    assert {"field": "brand", "value": "Case Logic", "text": "case logic", "use": "boost"} in entities
    entities = engine.search("华为耳机", mode="keyword").understood.entities
    assert {"field": "brand", "value": "华为", "text": "华为", "use": "boost"} in entities
