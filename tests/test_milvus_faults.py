"""Milvus goes away and comes back: searches answer by keyword, writes are refused with nothing applied,
and what a failed write left on the server is set right once it returns."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from helpers import MilvusLiteServer
from shopsearch.config import EngineConfig, SearchConfig, VectorConfig
from shopsearch.errors import IndexUnavailable
from shopsearch.index.storage import RemoteWriteNote

pytestmark = [pytest.mark.milvus, pytest.mark.slow]  # starts (and stops, and starts again) a milvus-lite server

TIMEOUT_S = 2.0
TITLE = "zyxwvut quokka lantern"  # words no catalogue item has: found by keyword only if written


@pytest.fixture
def server(tmp_path):
    server = MilvusLiteServer(tmp_path / "milvus-server", tmp_path / "milvus-server.log")
    if not Path(server.program).exists():
        pytest.skip("the milvus-lite command is not installed (pip install 'shopsearch[milvus]')")
    server.start()
    yield server
    server.stop()


def config(uri: str) -> EngineConfig:
    return dataclasses.replace(EngineConfig(), vector=VectorConfig(backend="milvus", uri=uri, timeout_s=TIMEOUT_S),
                               search=SearchConfig(breaker_failures=2, breaker_cooldown_s=1.0))


def ids(response) -> list[str]:
    return [hit.id for hit in response.hits]


def test_milvus_away_degrades_searches_refuses_writes_and_recovers(server, tmp_path, embedder, icecat_items):
    from fastapi.testclient import TestClient

    from shopsearch import Engine
    from shopsearch.serve.app import create_app

    data = tmp_path / "data"
    items = icecat_items[:40]
    engine = Engine.open(data, config=config(server.uri), embedder=embedder)
    try:
        engine.upsert(items)
        assert not engine.search("laptop bag", k=5).degraded
        before, version = len(engine), engine.version

        server.stop()
        started = time.perf_counter()
        answer = engine.search("laptop bag", k=5)
        assert answer.degraded and "vector" in answer.to_dict()["degraded_reason"] and answer.hits  # by keyword
        assert time.perf_counter() - started < TIMEOUT_S + 5  # within the client's timeout, not its minutes of retries
        with pytest.raises(IndexUnavailable):
            engine.search("laptop bag", k=5, mode="vector")
        assert engine.model_states()["vector_index"] == "open"  # two failures in a row
        with pytest.raises(IndexUnavailable, match="nothing was written"):
            engine.upsert([{"id": "fault-1", "title": TITLE, "price": 9.5}])
        with pytest.raises(IndexUnavailable):
            engine.delete([items[0].id])
        assert engine.get("fault-1") is None and engine.get(items[0].id) is not None
        assert len(engine) == before and engine.version == version  # the catalogue is as it was
        assert not ids(engine.search(TITLE, mode="keyword", k=5))  # nor did the keyword index take it

        with TestClient(create_app(engine), raise_server_exceptions=False) as client:
            refused = client.post("/v1/catalog/items", json={"items": [{"id": "fault-1", "title": TITLE}]})
            assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
            error = refused.json()["error"]
            assert error["code"] == "index_unavailable" and set(error) == {"message", "type", "param", "code"}
            searched = client.post("/v1/search", json={"query": "laptop bag", "k": 5}).json()
            assert searched["degraded"] and searched["results"]
            assert "vector_index" in client.get("/ready").json()["down"]

        server.start()
        time.sleep(1.2)  # the breaker's cooldown: the next search is its trial
        deadline = time.time() + 30
        while engine.search("laptop bag", k=5).degraded:  # the client reconnects on its own
            assert time.time() < deadline, "searches stayed degraded after Milvus came back"
            time.sleep(0.5)
        engine.upsert([{"id": "fault-1", "title": TITLE, "price": 9.5}])
        assert "fault-1" in ids(engine.search(TITLE, mode="vector", k=3))
        assert set(ids(engine.search(items[1].title, mode="vector", k=10))) & {items[1].id}  # older items kept
        assert engine.model_states()["vector_index"] == "closed"
    finally:
        server.start()  # closing flushes to the server
        engine.close()


def test_a_write_the_server_took_part_of_is_rolled_back_and_repaired(server, tmp_path, embedder, icecat_items,
                                                                     monkeypatch):
    from shopsearch import Engine

    data = tmp_path / "data"
    items = icecat_items[:20]
    engine = Engine.open(data, config=config(server.uri), embedder=embedder)
    engine.upsert(items)
    vectors = engine.backends.vector
    real_upsert = vectors._client.upsert

    def upsert_then_fail(*args, **kwargs):  # the server takes the rows, then the connection drops
        real_upsert(*args, **kwargs)
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(vectors._client, "upsert", upsert_then_fail)
    changed = dict(items[0].to_record(), title=TITLE)
    with pytest.raises(IndexUnavailable, match="nothing was written"):
        engine.upsert([changed, {"id": "fault-2", "title": TITLE + " two"}])
    assert engine.get("fault-2") is None and engine.get(items[0].id)["title"] == items[0].title
    note = json.loads((data / RemoteWriteNote.NAME).read_text())
    assert len(note["rows"]) == 2  # what the server may hold of the rolled-back batch
    assert vectors.count() == len(items) + 1  # it does hold fault-2's vector ...
    found = ids(engine.search(TITLE, mode="vector", k=5))
    assert "fault-2" not in found  # ... which searches leave out: the catalogue has no such item

    monkeypatch.setattr(vectors._client, "upsert", real_upsert)
    engine.close()
    engine = Engine.open(data, config=config(server.uri), embedder=embedder)  # reopening repairs
    try:
        assert not (data / RemoteWriteNote.NAME).exists()
        assert engine.backends.vector.count() == len(engine) == len(items)
        # items[0]'s vector is its own again, not the rolled-back title's
        assert ids(engine.search(items[0].title, mode="vector", k=1)) == [items[0].id]
        engine.upsert([{"id": "fault-2", "title": TITLE + " two"}])
        assert ids(engine.search(TITLE + " two", mode="vector", k=1)) == ["fault-2"]
    finally:
        engine.close()
