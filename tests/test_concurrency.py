"""Searches run side by side: with each other, with a slow reranker, and with writes.

No timings are asserted: a search that serialises on another shows up as a barrier that
never fills (BrokenBarrierError) or a write that never gets through (a timeout).
"""

from __future__ import annotations

import dataclasses
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from helpers import HashEmbedder
from shopsearch.index.rwlock import ReadWriteLock
from shopsearch.serve.app import create_app
from shopsearch.serve.settings import ServeSettings

PRODUCTS = [{"id": str(i), "title": f"{colour} running shoe {i}", "brand": brand, "price": 10 + i}
            for i, (colour, brand) in enumerate((c, b) for c in ("red", "blue", "green", "black") for b in ("Acme", "Zeta")
                                                for _ in range(5))]
WAIT_S = 20  # generous: a healthy run passes each barrier in milliseconds


class GateReranker:
    """A reranker that blocks every call until `parties` calls are inside it at once (or `release` is set)."""

    name = "gate"

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=WAIT_S)
        self.release = threading.Event()
        self.inside = threading.Semaphore(0)

    def score(self, query, documents, instruction=None):
        self.inside.release()
        if not self.release.is_set():
            self.barrier.wait()
        return [float(len(set(query.split()) & set(d.lower().split()))) for d in documents]


@pytest.fixture
def engine_with(open_engine, tmp_path):
    def make(reranker=None):
        engine = open_engine(tmp_path / "d", embedder=HashEmbedder(), reranker=reranker)
        engine.upsert(PRODUCTS)
        return engine
    return make


def client_for(engine, **settings):
    app = create_app(engine, dataclasses.replace(ServeSettings(), **{"cache": "none", **settings}))
    return TestClient(app, raise_server_exceptions=True).__enter__()


def test_rerank_searches_reach_the_reranker_together_over_http(engine_with):
    gate = GateReranker(parties=4)
    gate.release.set()  # the server's warm-up search goes through alone
    client = client_for(engine_with(gate))
    gate.release.clear()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda q: client.post("/v1/search", json={"query": q, "rerank": True, "k": 3}),
                                ["red shoe", "blue shoe", "green shoe", "black shoe"]))
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json()["results"][0]["explanation"] is None and a.json()["degraded"] is False for a in answers)


def test_plain_searches_and_writes_go_on_while_a_reranker_is_stuck(engine_with):
    gate = GateReranker(parties=2)  # never filled by one search: it waits until released
    gate.release.set()
    client = client_for(engine_with(gate))
    gate.release.clear()
    with ThreadPoolExecutor(2) as pool:
        stuck = pool.submit(client.post, "/v1/search", json={"query": "red shoe", "rerank": True})
        assert gate.inside.acquire(timeout=WAIT_S)
        plain = client.post("/v1/search", json={"query": "blue shoe", "rerank": False, "k": 3})
        written = client.post("/v1/catalog/items", json={"items": [{"id": "new", "title": "violet running shoe"}]})
        found = client.post("/v1/search", json={"query": "violet", "mode": "keyword", "rerank": False})
        assert not stuck.done()
        gate.release.set()
        gate.barrier.abort()  # let the stuck call out: it then fails, and that search degrades
        assert stuck.result(timeout=WAIT_S).status_code == 200
    assert plain.status_code == 200 and len(plain.json()["results"]) == 3
    assert written.status_code == 200 and written.json()["upserted"] == 1
    assert [h["id"] for h in found.json()["results"]] == ["new"]


def test_searches_embed_their_query_through_the_batcher_and_cache(engine_with):
    client = client_for(engine_with(), cache="memory")
    for filters in (None, ["price<=20"], ["brand=Acme"]):  # three searches, three search-cache keys
        assert client.post("/v1/search", json={"query": "red shoe", "filters": filters}).status_code == 200
    metrics = client.get("/metrics").text
    assert 'shopsearch_cache_total{kind="embedding",result="miss"} 2.0' in metrics  # the warm-up query, then this one
    assert 'shopsearch_cache_total{kind="embedding",result="hit"} 2.0' in metrics
    # Model calls: the warm-up's document batch and its query, then "red shoe" once.
    assert "shopsearch_embedding_batch_size_count 3.0" in metrics


def test_concurrent_searches_and_writes_stay_consistent(engine_with):
    engine = engine_with()
    known = {p["id"] for p in PRODUCTS}
    errors: list[BaseException] = []
    stop = threading.Event()

    def search(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                mode = rng.choice(["keyword", "vector", "hybrid"])
                filters = rng.choice([None, ["price<=20"], ["brand=Zeta"]])
                hits = engine.search(f"{rng.choice(['red', 'blue', 'green'])} shoe", mode=mode, k=10, filters=filters).hits
                assert all(h.id in known or h.id.startswith("w") for h in hits)
                assert all(h.item["price"] <= 20 for h in hits) if filters == ["price<=20"] else True
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    readers = [threading.Thread(target=search, args=(seed,)) for seed in range(4)]
    for reader in readers:
        reader.start()
    for batch in range(15):
        engine.upsert([{"id": f"w{batch}-{i}", "title": f"white running shoe {i}", "price": 5 + i} for i in range(20)])
        engine.delete([f"w{batch - 1}-{i}" for i in range(0, 20, 2)])
    stop.set()
    for reader in readers:
        reader.join(timeout=WAIT_S)
    assert not errors, errors[0]
    assert len(engine) == len(PRODUCTS) + 15 * 20 - 14 * 10
    assert {h.id for h in engine.search("white", mode="keyword", k=1000).hits} == \
        {f"w{b}-{i}" for b in range(15) for i in range(20) if b == 14 or i % 2}


def test_the_readers_writer_lock_shares_reads_and_isolates_writes():
    lock = ReadWriteLock()
    both_inside = threading.Barrier(3, timeout=WAIT_S)
    order: list[str] = []

    def reader() -> None:
        with lock.reading():
            both_inside.wait()  # three readers inside at once, or this breaks
            order.append("read")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT_S)
    assert order == ["read"] * 3

    with lock.reading():
        writer_in = threading.Event()

        def writer() -> None:
            with lock.writing():
                writer_in.set()

        w = threading.Thread(target=writer)
        w.start()
        assert not writer_in.wait(0.2)  # a reader is inside: the writer waits
        late = threading.Event()

        def late_reader() -> None:
            with lock.reading():
                late.set()

        r = threading.Thread(target=late_reader)
        r.start()
        assert not late.wait(0.2)  # a writer waits: new readers queue behind it
    w.join(timeout=WAIT_S)
    r.join(timeout=WAIT_S)
    assert writer_in.is_set() and late.is_set() and lock.readers == 0


def test_a_big_write_keeps_readers_out_one_slice_at_a_time(engine_with):
    from shopsearch.index.backends import SWAP_SLICE

    engine = engine_with()
    lock = engine._backends.lock
    held = []
    real = lock.writing

    def counted():
        held.append(1)
        return real()

    lock.writing = counted
    n = 3 * SWAP_SLICE + 5
    engine.upsert([{"id": f"big-{i}", "title": f"purple running shoe {i}"} for i in range(n)])
    assert len(held) == 4 + 1  # four slices of vectors, then the filter columns
    assert len(engine.search("purple", mode="keyword", k=1000).hits) == n
    priced = engine.search("purple shoe", mode="vector", k=n, filters=["price>=0"]).hits  # the new items have no price
    assert priced and not any(h.id.startswith("big-") for h in priced)
    assert {h.id for h in engine.search("purple shoe", mode="vector", k=1000).hits} >= {f"big-{i}" for i in range(n)}


def test_a_stuck_query_embedding_times_out_through_the_servers_batcher(open_engine, tmp_path):
    import dataclasses as dc

    from shopsearch.config import EngineConfig

    class Stuck(HashEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()
            self.stuck = False

        def embed_queries(self, texts, dimensions=None):
            if self.stuck:
                self.release.wait(WAIT_S)
            return super().embed_queries(texts, dimensions)

    model = Stuck()
    base = EngineConfig()
    config = dc.replace(base, search=dc.replace(base.search, embed_timeout_s=0.3))
    engine = open_engine(tmp_path / "stuck", embedder=model, config=config)
    engine.upsert(PRODUCTS)
    client = client_for(engine)
    model.stuck = True
    try:
        assert client.get("/ready").json()["down"] == []
        answer = client.post("/v1/search", json={"query": "red shoe", "k": 3}).json()
        assert answer["degraded"] and "timed out after 0.3s" in answer["degraded_reason"]
        assert [h["item"]["title"].split()[0] for h in answer["results"]] == ["red"] * 3  # the keyword leg answered
        for query in ("red shoes", "shoe red"):  # the breaker opens after its third failure
            client.post("/v1/search", json={"query": query, "k": 3})
        ready = client.get("/ready").json()
        assert ready["models"]["embedding"] == "open" and ready["down"] == ["embedding"]
    finally:
        model.release.set()
