"""Long descriptions: indexed as heading-aware chunks, scored by the best chunk, the reranker reads that chunk."""

from __future__ import annotations

import dataclasses

import pytest

from helpers import WordReranker, catalogue
from shopsearch.config import EngineConfig


def vector_ids(engine, query, k=3, **kw):
    return [h.id for h in engine.search(query, mode="vector", k=k, **kw).hits]


@pytest.fixture
def chunked(open_engine, tmp_path):
    reranker = WordReranker()
    engine = open_engine(tmp_path / "chunked", reranker=reranker)
    engine.upsert(catalogue())
    return engine, reranker


def test_an_item_is_found_by_a_section_far_into_its_description(chunked, open_engine, tmp_path):
    engine, _ = chunked
    assert engine.stats()["chunk_index"]["chunks"] >= 24 * 3
    plain = open_engine(tmp_path / "plain", config=dataclasses.replace(EngineConfig(), chunk_tokens=0))
    plain.upsert(catalogue())
    assert plain.stats()["chunk_index"]["chunks"] == 0
    for n, query in [(3, "waterproof for scuba diving"), (11, "long battery life for music"), (17, "non-stick pan for eggs")]:
        assert vector_ids(engine, query, rerank=False)[0] == str(n)
        # Without chunks, the item's one vector covers its title and the start of the description only.
        assert str(n) not in vector_ids(plain, query, k=1, rerank=False)


def test_the_reranker_reads_the_best_chunk(chunked):
    engine, reranker = chunked
    response = engine.search("scuba diving waterproof", mode="vector", k=3, rerank_depth=5)
    _, documents, _ = reranker.seen[-1]
    (document,) = [d for d in documents if d.startswith("Acme Everyday Gadget 3\n")]
    assert "Waterproofing: Sealed against water to 50 metres" in document and "Overview" not in document
    assert response.hits[0].id == "3"  # "scuba" and "diving" are only in that chunk
    assert response.hits[0].explanation.rerank_score > response.hits[1].explanation.rerank_score


def test_chunks_follow_updates_deletes_and_reopen(chunked, open_engine, tmp_path):
    engine, _ = chunked
    before = engine.stats()["chunk_index"]["chunks"]
    engine.upsert([{"id": "3", "title": "Acme Everyday Gadget 3", "description": "short now"}])
    assert engine.stats()["chunk_index"]["chunks"] < before
    assert "3" not in vector_ids(engine, "waterproof for scuba diving", k=1, rerank=False)
    engine.delete(["11"])
    assert "11" not in vector_ids(engine, "long battery life for music", k=5, rerank=False)
    count = engine.stats()["chunk_index"]["chunks"]
    engine.close()
    reopened = open_engine(tmp_path / "chunked")
    assert reopened.stats()["chunk_index"]["chunks"] == count
    assert vector_ids(reopened, "non-stick pan for eggs", rerank=False)[0] == "17"


def test_filters_apply_to_chunk_hits(chunked):
    engine, _ = chunked
    hits = engine.search("waterproof for scuba diving", mode="vector", k=3, filters=["brand=Nobody"], rerank=False).hits
    assert hits == []
