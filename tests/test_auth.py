"""API keys: entries, scopes, rate limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, strategies as st

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.serve.app import create_app
from shopsearch.serve.auth import InvalidKeyEntry, Scope, TokenBucket, parse_key_entries, parse_key_entry
from shopsearch.serve.settings import ServeSettings


def test_a_key_entry_names_scope_rate_and_name_and_a_bare_key_is_admin():
    assert parse_key_entry("k1", 1) == parse_key_entry("k1 admin", 1)
    bare = parse_key_entry("k1", 3)
    assert bare.scope is Scope.ADMIN and bare.rate is None and bare.name == "key-3"
    front = parse_key_entry("pk_live rate=20/s search name=storefront", 1)
    assert (front.scope, front.rate, front.name) == (Scope.SEARCH, 20.0, "storefront")
    assert "pk_live" not in repr(front)  # a key that lands in a log stays secret


@pytest.mark.parametrize("entry", ["k reader", "k rate=0/s", "k rate=fast", "k name=has space!", "k rate=-1/s"])
def test_a_bad_key_entry_says_what_is_wrong(entry):
    with pytest.raises(InvalidKeyEntry):
        parse_key_entry(entry, 1)


def test_two_keys_may_not_share_a_name():
    with pytest.raises(InvalidKeyEntry, match="named 'a'"):
        parse_key_entries(["k1 name=a", "k2 name=a"])


@given(st.floats(0.5, 100), st.lists(st.floats(0, 2), min_size=1, max_size=50))
def test_a_token_bucket_never_grants_more_than_its_burst_plus_its_rate(rate, gaps):
    now = [0.0]
    bucket = TokenBucket(rate, clock=lambda: now[0])
    granted = 0
    for gap in gaps:
        now[0] += gap
        granted += bucket.take() == 0.0
    assert granted <= rate + rate * now[0] + 1e-9


def test_scopes_and_rate_limits_over_http(tmp_path):
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    engine.upsert([{"id": "1", "title": "walnut lamp"}])
    settings = ServeSettings(cache="none", api_keys=("front search rate=3/s name=storefront", "boss"))
    try:
        with TestClient(create_app(engine, settings), raise_server_exceptions=False) as client:
            front, boss = {"Authorization": "Bearer front"}, {"Authorization": "Bearer boss"}
            write = client.post("/v1/catalog/items", json={"items": [{"id": "2", "title": "x"}]}, headers=front)
            assert write.status_code == 403 and write.json()["error"]["code"] == "insufficient_scope"
            answers = [client.post("/v1/search", json={"query": "lamp"}, headers=front) for _ in range(6)]
            codes = [a.status_code for a in answers]
            assert codes[:2] == [200, 200] and 429 in codes  # a burst of 3 (one went to the refused write)
            limited = next(a for a in answers if a.status_code == 429)
            assert int(limited.headers["Retry-After"]) >= 1 and limited.json()["error"]["code"] == "rate_limit_exceeded"
            assert all(client.post("/v1/search", json={"query": "lamp"}, headers=boss).status_code == 200 for _ in range(6))
            metrics = client.get("/metrics", headers=boss).text
            assert 'shopsearch_rate_limited_total{key="storefront"}' in metrics and "front" not in metrics.replace(
                "storefront", "")
    finally:
        engine.close()


def test_a_bad_key_entry_stops_the_server_from_starting(tmp_path):
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    try:
        with pytest.raises(ValueError, match="API keys"):
            create_app(engine, ServeSettings(cache="none", api_keys=("k superuser",)))
    finally:
        engine.close()


def test_a_key_can_ask_what_it_may_do(tmp_path):
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    try:
        settings = ServeSettings(cache="none", api_keys=("front search rate=5/s name=storefront", "boss"))
        with TestClient(create_app(engine, settings), raise_server_exceptions=False) as client:
            front = client.get("/v1/key", headers={"Authorization": "Bearer front"}).json()
            assert front == {"name": "storefront", "scope": "search", "rate": 5.0}
            assert client.get("/v1/key", headers={"Authorization": "Bearer boss"}).json()["scope"] == "admin"
            assert client.get("/v1/key").status_code == 401
        with TestClient(create_app(engine, ServeSettings(cache="none"))) as client:
            assert client.get("/v1/key").json()["scope"] == "admin"  # no keys: everything is open
    finally:
        engine.close()
