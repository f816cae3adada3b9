"""Merchandising over HTTP: the rules routes (admin only), their 400s naming the rule and field with
nothing applied, cached answers made unreachable by a change, the preview, each rule's click-through
in /v1/analytics; and similar items (a front end's route)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.serve.app import create_app
from shopsearch.serve.settings import ServeSettings

PRODUCTS = [
    {"id": "phone-1", "title": "iPhone 15 smartphone", "brand": "Apple", "price": 899.0},
    {"id": "phone-2", "title": "Galaxy smartphone", "brand": "Samsung", "price": 799.0},
    {"id": "case-1", "title": "iPhone case in leather", "brand": "Apple", "price": 59.0},
    {"id": "case-2", "title": "Clear iPhone case", "brand": "Spigen", "price": 15.0},
]
ADMIN, SEARCH = {"Authorization": "Bearer admin-key"}, {"Authorization": "Bearer page-key"}
PIN = {"id": "launch", "when": {"query": "iphone"}, "actions": [{"pin": "phone-2", "position": 1}]}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    engine = Engine.open(tmp_path_factory.mktemp("serve-rules") / "data", embedder=HashEmbedder())
    engine.upsert(PRODUCTS)
    settings = ServeSettings(cache="memory", api_keys=("admin-key", "page-key search"))
    with TestClient(create_app(engine, settings), raise_server_exceptions=False) as client:
        yield client
    engine.close()


@pytest.fixture
def clean(client):
    yield client
    assert client.put("/v1/rules", json={"rules": []}, headers=ADMIN).status_code == 200


def search(client, query="iphone", **body):
    return client.post("/v1/search", json={"query": query, "mode": "keyword", **body}, headers=SEARCH).json()


def test_a_rule_change_makes_cached_answers_unreachable(clean):
    search(clean)
    assert search(clean)["cached"] is True
    put = clean.put("/v1/rules", json={"rules": [PIN]}, headers=ADMIN)
    assert put.status_code == 200 and put.json()["rules"] == [PIN] and put.json()["count"] == 1
    answer = search(clean, explain=True)
    assert answer["cached"] is False and answer["results"][0]["id"] == "phone-2"
    assert answer["rules_fired"] == ["launch"] and answer["results"][0]["explanation"]["rules"] == ["launch"]
    assert search(clean)["rules_fired"] == ["launch"]  # a cached answer says so too
    assert clean.get("/v1/rules", headers=ADMIN).json()["rules"] == [PIN]
    assert clean.delete("/v1/rules/launch", headers=ADMIN).json()["count"] == 0
    assert search(clean)["results"][0]["id"] != "phone-2"
    missing = clean.delete("/v1/rules/launch", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "rule_not_found"


@pytest.mark.parametrize("rules, param", [
    ([{**PIN, "actions": [{"pin": "ghost"}]}], "rules[0].actions[0].pin"),
    ([PIN, {**PIN, "id": "b", "actions": [{"boost": "price<>9"}]}], "rules[1].actions[0].boost"),
    ([{**PIN, "when": {"season": "x"}}], "rules[0].when.season"),
])
def test_a_bad_rule_is_a_400_naming_it_and_nothing_is_applied(clean, rules, param):
    clean.put("/v1/rules", json={"rules": [{**PIN, "id": "kept"}]}, headers=ADMIN)
    version = clean.get("/v1/rules", headers=ADMIN).json()["version"]
    bad = clean.put("/v1/rules", json={"rules": rules}, headers=ADMIN)
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and "rule '" in error["message"]
    now = clean.get("/v1/rules", headers=ADMIN).json()
    assert [r["id"] for r in now["rules"]] == ["kept"] and now["version"] == version


def test_a_search_key_cannot_touch_the_rules_but_may_turn_them_off_for_itself(clean):
    for method, path in (("get", "/v1/rules"), ("put", "/v1/rules"), ("delete", "/v1/rules/x"), ("post", "/v1/rules/preview")):
        answer = clean.request(method, path, json={"rules": [], "query": "x"}, headers=SEARCH)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "insufficient_scope"
    clean.put("/v1/rules", json={"rules": [PIN]}, headers=ADMIN)
    assert search(clean, rules=False)["rules_fired"] == []


def test_preview_shows_before_and_after_and_stores_nothing(clean):
    preview = clean.post("/v1/rules/preview", json={"query": "iphone", "mode": "keyword", "rules": [PIN]}, headers=ADMIN)
    assert preview.status_code == 200
    body = preview.json()
    assert body["after"]["results"][0]["id"] == "phone-2" and body["after"]["rules_fired"] == ["launch"]
    assert body["before"]["rules_fired"] == [] and clean.get("/v1/rules", headers=ADMIN).json()["count"] == 0
    bad = clean.post("/v1/rules/preview", json={"query": "iphone", "rules": [{"id": "x"}]}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "rules[0].when"


def test_analytics_show_each_rules_click_through(clean):
    since = time.time()
    clean.put("/v1/rules", json={"rules": [PIN, {"id": "spigen", "when": {"contains": "case"},
                                                 "actions": [{"boost": {"brand": "Spigen"}}]}]}, headers=ADMIN)
    clicked = search(clean, user_id="u1")
    search(clean, user_id="u2")
    search(clean, "iphone case", user_id="u3")
    event = {"type": "click", "query_id": clicked["query_id"], "item_id": "phone-2", "position": 1}
    assert clean.post("/v1/events", json={"events": [event]}, headers=SEARCH).status_code == 200
    rules = clean.get("/v1/analytics", params={"since": since}, headers=ADMIN).json()["rules"]
    assert rules["launch"]["searches"] == 2 and rules["launch"]["ctr"] == 0.5
    assert rules["spigen"]["searches"] == 1 and rules["spigen"]["ctr"] == 0.0


def test_similar_items_for_a_front_end(client):
    answer = client.get("/v1/items/case-1/similar", params={"k": 2}, headers=SEARCH)
    assert answer.status_code == 200
    body = answer.json()
    assert body["item_id"] == "case-1" and len(body["results"]) == 2
    assert "case-1" not in [h["id"] for h in body["results"]] and {"id", "score", "item"} <= set(body["results"][0])
    cheap = client.get("/v1/items/case-1/similar", params={"filters": ["price<100", '{"brand": ["Spigen", "Apple"]}']},
                       headers=SEARCH).json()
    assert [h["id"] for h in cheap["results"]] == ["case-2"]
    missing = client.get("/v1/items/ghost/similar", headers=SEARCH)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "item_not_found"
    for params in ({"filters": "price<>1"}, {"filters": "{not json"}, {"k": 0}):
        bad = client.get("/v1/items/case-1/similar", params=params, headers=SEARCH)
        assert bad.status_code == 400 and bad.json()["error"]["param"] in ("filters", "k")


def embedded(client) -> float:
    line = next(row for row in client.get("/metrics", headers=ADMIN).text.splitlines()
                if row.startswith("shopsearch_documents_embedded_total "))
    return float(line.split()[1])


def test_patch_changes_some_fields_without_embedding_again(client):
    before = embedded(client)
    patched = client.patch("/v1/catalog/items/case-2", json={"price": 12.5, "stock": 0, "in_stock": False}, headers=ADMIN)
    assert patched.status_code == 200
    body = patched.json()
    assert body["changed"] and body["item"]["price"] == 12.5 and body["item"]["title"] == "Clear iPhone case"
    assert embedded(client) == before
    found = search(client, "iphone case", filters={"in_stock": False})
    assert [h["id"] for h in found["results"]] == ["case-2"] and found["results"][0]["item"]["stock"] == 0
    assert client.patch("/v1/catalog/items/case-2", json={"title": "Clear iPhone 15 case"}, headers=ADMIN).status_code == 200
    assert embedded(client) == before + 1
    for patch, status in (({"title": None}, 400), ({}, 400), ({"id": "x"}, 400)):
        bad = client.patch("/v1/catalog/items/case-2", json=patch, headers=ADMIN)
        assert bad.status_code == status and set(bad.json()["error"]) == {"message", "type", "param", "code"}
    assert client.get("/v1/catalog/items/case-2", headers=SEARCH).json()["title"] == "Clear iPhone 15 case"  # unchanged
    assert client.patch("/v1/catalog/items/ghost", json={"price": 1}, headers=ADMIN).status_code == 404
    assert client.patch("/v1/catalog/items/case-2", json={"price": 1}, headers=SEARCH).status_code == 403
    assert client.patch("/v1/catalog/items/case-2", json=[1, 2], headers=ADMIN).status_code == 400
    client.post("/v1/catalog/items", json={"items": [p for p in PRODUCTS if p["id"] == "case-2"]}, headers=ADMIN)
