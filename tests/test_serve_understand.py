"""Query understanding over HTTP: `understood` and `sort` on /v1/search, the synonyms routes, /v1/suggest."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.serve.app import create_app
from shopsearch.serve.settings import ServeSettings

PRODUCTS = [
    {"id": "bag-1", "title": "Laptop bag in black nylon", "brand": "Targus", "price": 43.95},
    {"id": "bag-3", "title": "Slim laptop bag", "brand": "Targus", "price": 24.50},
    {"id": "bag-4", "title": "Laptop sleeve bag", "brand": "Dicota", "price": 19.00},
    {"id": "note-1", "title": "Notebook backpack", "brand": "Dicota", "price": 55.0},
    {"id": "ear-1", "title": "蓝牙耳机 降噪", "brand": "华为", "price": 499.0},
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    engine = Engine.open(tmp_path_factory.mktemp("serve-understand") / "data", embedder=HashEmbedder())
    engine.upsert(PRODUCTS)
    with TestClient(create_app(engine, ServeSettings(cache="memory", max_query_chars=50)),
                    raise_server_exceptions=False) as client:
        yield client
    engine.close()


def test_search_says_what_it_understood_and_sorts(client):
    answer = client.post("/v1/search", json={"query": "laptop bag under 30", "mode": "keyword"}).json()
    assert {h["id"] for h in answer["results"]} == {"bag-3", "bag-4"}
    understood = answer["understood"]
    assert understood["text"] == "laptop bag" and understood["filters"] == {"price": {"lt": 30.0}}
    assert understood["spans"][0]["kind"] == "price" and understood["did_you_mean"] is None
    plain = client.post("/v1/search", json={"query": "laptop bag under 30", "understand": False, "mode": "keyword"}).json()
    assert plain["understood"] is None
    cheap = client.post("/v1/search", json={"query": "laptop bag", "sort": "price:asc", "mode": "keyword"}).json()
    prices = [h["item"]["price"] for h in cheap["results"]]
    assert prices == sorted(prices) and len(prices) >= 3


@pytest.mark.parametrize("sort", ["colour:asc", "price:sideways", "newest"])
def test_a_bad_sort_is_a_400_naming_it(client, sort):
    response = client.post("/v1/search", json={"query": "laptop bag", "sort": sort})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "sort" and error["type"] == "invalid_request_error"


def test_synonyms_are_managed_whole_and_make_cached_answers_unreachable(client):
    query = {"query": "laptop", "mode": "keyword"}
    before = client.post("/v1/search", json=query).json()
    assert "note-1" not in [h["id"] for h in before["results"]]
    assert client.post("/v1/search", json=query).json()["cached"] is True
    put = client.put("/v1/synonyms", json={"synonyms": "laptop => notebook\ntv, television\n"})
    assert put.status_code == 200 and put.json()["synonyms"] == ["laptop => notebook", "tv, television"]
    after = client.post("/v1/search", json=query).json()
    assert after["cached"] is False and "note-1" in [h["id"] for h in after["results"]]
    bad = client.put("/v1/synonyms", json={"synonyms": ["tv, television", "laptop"]})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "synonyms" and "line 2" in bad.json()["error"]["message"]
    assert client.get("/v1/synonyms").json()["count"] == 2  # nothing of the bad set applied
    assert client.delete("/v1/synonyms").json()["count"] == 0
    assert client.get("/v1/synonyms").json()["synonyms"] == []


def test_suggest_completes_prefixes_and_refuses_an_overlong_one(client):
    answer = client.get("/v1/suggest", params={"q": "targ", "k": 5}).json()
    assert answer["object"] == "list" and any(s["text"] == "Targus" and s["kind"] == "brand" for s in answer["data"])
    assert any(s["text"].startswith("蓝牙") for s in client.get("/v1/suggest", params={"q": "蓝牙"}).json()["data"])
    long = client.get("/v1/suggest", params={"q": "x" * 51})
    assert long.status_code == 400 and long.json()["error"]["param"] == "q"
    assert client.get("/v1/suggest", params={"q": "lap", "k": 0}).json()["error"]["param"] == "k"


def test_popular_searches_join_the_suggestions(tmp_path):
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    engine.upsert(PRODUCTS)
    try:
        with TestClient(create_app(engine, ServeSettings(cache="memory")), raise_server_exceptions=False) as client:
            def searched(query, times, clicked):
                for i in range(times):
                    answer = client.post("/v1/search", json={"query": query, "mode": "keyword"}).json()
                    if i < clicked:
                        hit = answer["results"][0]["id"]
                        event = {"type": "click", "query_id": answer["query_id"], "item_id": hit, "position": 1}
                        assert client.post("/v1/events", json={"events": [event]}).json()["accepted"] == 1

            before = client.get("/v1/suggest", params={"q": "lap"}).json()["data"]
            assert all(s["kind"] != "query" for s in before)
            searched("Laptop BAG", 3, 3)  # logged folded: "laptop bag"
            searched("slim laptop", 2, 1)
            searched("laptop once", 1, 1)  # once is noise
            searched("laptop nylon", 2, 0)  # found nothing anyone clicked
            engine.refresh_popular()
            found = client.get("/v1/suggest", params={"q": "lap"}).json()["data"]
        by_text = {s["text"].lower(): s for s in found}
        assert len(by_text) == len(found)  # no text twice
        assert by_text["laptop bag"]["kind"] == "query" and by_text["laptop bag"]["score"] == pytest.approx(3 * 1.1)
        assert found[0]["text"] == "Laptop bag"  # the catalogue's spelling, now first
        assert by_text["slim laptop"]["kind"] == "query"
        assert "laptop once" not in by_text and "laptop nylon" not in by_text
    finally:
        engine.close()
