"""Near-real-time replicas: a read-only engine on the writer's data directory sees its writes (new items,
updates, deletes, filters on new values, rules and synonyms) within a second, without reopening."""

from __future__ import annotations

import dataclasses
import time

import pytest

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.config import EngineConfig
from shopsearch.text.synonyms import parse_synonyms

VISIBLE_WITHIN_S = 1.0


def eventually(check, within: float = VISIBLE_WITHIN_S * 3):
    """Poll `check` until it is true; the seconds it took (the test's bound is loose, the benchmark measures)."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > within:
            pytest.fail(f"not visible on the replica within {within} s")
        time.sleep(0.02)
    return time.perf_counter() - started


@pytest.fixture
def pair(tmp_path):
    config = dataclasses.replace(EngineConfig(), follow_interval_s=0.05)
    writer = Engine.open(tmp_path / "data", config, embedder=HashEmbedder())
    writer.upsert([{"id": "a", "title": "walnut desk lamp", "brand": "Acme", "price": 40.0}])
    replica = Engine.open(tmp_path / "data", config, read_only=True, embedder=HashEmbedder())
    assert replica.read_only
    yield writer, replica
    replica.close()
    writer.close()


def ids(engine, query, **request):
    return [h.id for h in engine.search(query, **request).hits]


def test_a_replica_follows_writes_without_reopening(pair):
    writer, replica = pair
    version = replica.version
    writer.upsert([{"id": "b", "title": "oak standing lamp", "brand": "Globex", "price": 90.0}])
    eventually(lambda: "b" in ids(replica, "oak lamp", mode="keyword"))
    assert "b" in ids(replica, "oak lamp", mode="vector") and replica.version > version
    assert ids(replica, "lamp", mode="hybrid", filters="brand=Globex") == ["b"]  # filter columns follow
    writer.upsert([{"id": "b", "title": "oak standing lamp", "brand": "Globex", "price": 19.0}])
    eventually(lambda: ids(replica, "lamp", mode="keyword", filters="price<20") == ["b"])
    writer.delete(["a"])
    eventually(lambda: "a" not in ids(replica, "walnut desk lamp", mode="hybrid"))
    assert "a" not in ids(replica, "walnut desk lamp", mode="vector") and len(replica) == 1


def test_rules_and_synonyms_follow_their_version(pair):
    writer, replica = pair
    writer.upsert([{"id": "b", "title": "oak standing lamp", "brand": "Globex", "price": 90.0}])
    writer.set_rules([{"id": "oak", "when": {"contains": "lamp"}, "actions": [{"pin": "b", "position": 1}]}])
    eventually(lambda: replica.search("lamp", mode="keyword").rules_fired == ["oak"])
    assert ids(replica, "lamp", mode="keyword")[0] == "b"
    writer.set_synonyms(parse_synonyms("luminaire => lamp\n"))
    eventually(lambda: bool(ids(replica, "luminaire", mode="keyword")))
