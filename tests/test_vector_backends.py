"""The embedded vector backends in the engine: hnswlib and faiss answer the same exact searches under any
filter, through upserts, deletes and a restart, and a directory switched from one to the other replays
its stored vectors into the new one without re-embedding (qdrant-client's congruence tests, local vs local)."""

import dataclasses

import numpy as np
import pytest

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.config import EngineConfig

pytest.importorskip("faiss")

BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli"]
WORDS = "usb charger cable laptop bag camera lens speaker bluetooth mouse keyboard stand case battery".split()


def config(backend: str) -> EngineConfig:
    base = EngineConfig.from_env()
    return dataclasses.replace(base, vector=dataclasses.replace(base.vector, backend=backend))


def catalogue(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"id": f"p{i}", "title": " ".join(rng.choice(WORDS, 4)), "brand": str(rng.choice(BRANDS)),
             "price": float(rng.integers(5, 400))} for i in range(n)]


FILTERS = [None, ["brand=Acme"], ["brand=Acme,Hooli"], ["price<=50"], ["price>=100", "brand=Globex"], ["brand=Nobody"]]


def answers(engine: Engine) -> list[tuple]:
    """Per filter and query: the exact top 15's scores, rank by rank, and which items score above the
    15th (the hash model gives many equal scores, and which of several tied items make the cut is
    either backend's choice)."""
    out = []
    for filters in FILTERS:
        for query in ("usb charger", "camera lens bag", "bluetooth speaker"):
            hits = engine.search(query, mode="vector", k=15, filters=filters, exact=True).hits
            scores = [round(h.score, 5) for h in hits]
            out.append((scores, sorted(h.id for h in hits if scores and round(h.score, 5) > scores[-1])))
    return out


def test_hnsw_and_faiss_agree_through_writes_and_a_restart(tmp_path):
    model = HashEmbedder()
    items = catalogue(400, seed=1)
    engines = {name: Engine.open(tmp_path / name, config(name), embedder=model) for name in ("hnsw", "faiss")}
    try:
        for engine in engines.values():
            engine.upsert(items)
        assert answers(engines["hnsw"]) == answers(engines["faiss"])
        changed = [{**item, "title": "usb charger " + item["title"]} for item in items[:50]]
        for engine in engines.values():
            engine.upsert(changed)
            engine.delete([f"p{i}" for i in range(300, 340)])
        first = answers(engines["hnsw"])
        assert first == answers(engines["faiss"])
        assert not any(i in {f"p{i}" for i in range(300, 340)} for _, above in first for i in above)
        approximate = engines["faiss"].search("usb charger", mode="hybrid", k=10, filters=["brand=Acme"]).hits
        assert approximate and all(h.item["brand"] == "Acme" for h in approximate)
    finally:
        for engine in engines.values():
            engine.close()
    reopened = Engine.open(tmp_path / "faiss", config("faiss"), embedder=model)
    try:
        assert reopened.stats()["items"] == 360 and answers(reopened) == first
    finally:
        reopened.close()


def test_switching_a_directory_to_faiss_replays_its_vectors(tmp_path):
    class Counting(HashEmbedder):
        documents = 0

        def embed_documents(self, texts, dimensions=None):
            Counting.documents += len(texts)
            return super().embed_documents(texts, dimensions)

    model = Counting()
    engine = Engine.open(tmp_path / "d", config("hnsw"), embedder=model)
    engine.upsert(catalogue(200, seed=2))
    before = answers(engine)
    engine.close()
    embedded = Counting.documents
    switched = Engine.open(tmp_path / "d", config("faiss"), embedder=model)
    try:
        assert answers(switched) == before
        assert Counting.documents == embedded  # the catalogue's stored vectors, not the model
    finally:
        switched.close()
