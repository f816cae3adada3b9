import numpy as np
import pytest

from shopsearch.config import VectorConfig
from shopsearch.index.vector_faiss import FaissVectorIndex
from shopsearch.index.vector_hnsw import HnswVectorIndex

BACKENDS = {"hnsw": HnswVectorIndex, "faiss": FaissVectorIndex}


def clustered(n, dim, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, dim))
    vectors = centers[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def built(tmp_path_factory, request):
    vectors = clustered(6000, 48)
    index = BACKENDS[request.param](tmp_path_factory.mktemp("vec"), 48, VectorConfig())
    index.apply(1, np.arange(6000), vectors, [])
    return index, vectors


def recall(index, queries, k, allowed=None):
    found = 0
    for q in queries:
        got, _ = index.search(q, k, allowed)
        want, _ = index.search(q, k, allowed, exact=True)
        found += len(set(got.tolist()) & set(want.tolist()))
    return found / (len(queries) * k)


def test_recall_at_10_against_exact_search(built):
    index, _ = built
    queries = clustered(200, 48, seed=1)
    assert recall(index, queries, 10) >= 0.95


@pytest.mark.parametrize("share", [0.002, 0.03, 0.3])
def test_filters_apply_inside_the_search(built, share):
    index, _ = built
    rng = np.random.default_rng(2)
    allowed = rng.random(6000) < share
    for q in clustered(30, 48, seed=3):
        rows, _ = index.search(q, 10, allowed)
        assert allowed[rows].all()
        assert len(rows) == min(10, allowed.sum())  # a selective filter still returns k
    assert recall(index, clustered(50, 48, seed=4), 10, allowed) >= 0.95


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_updates_deletes_and_snapshot_reload(tmp_path, backend):
    vectors = clustered(500, 16)
    index = BACKENDS[backend](tmp_path, 16, VectorConfig())
    index.apply(1, np.arange(500), vectors, [])
    index.apply(2, [], np.zeros((0, 16), np.float32), [7])
    rows, _ = index.search(vectors[7], 5)
    assert 7 not in rows.tolist()
    index.apply(3, [7, 8], vectors[[100, 101]], [])  # row 7 returns with a new vector; 8 is replaced
    rows, scores = index.search(vectors[100], 3)
    assert {7, 100} <= set(rows.tolist()) and scores[0] == pytest.approx(1.0, abs=1e-4)
    index.save()
    reloaded = BACKENDS[backend](tmp_path, 16, VectorConfig())
    assert reloaded.applied_seq == 3 and reloaded.count() == 500
    assert reloaded.search(vectors[101], 1)[0].tolist() in ([8], [101])
    with pytest.raises(ValueError, match="32-d"):
        BACKENDS[backend](tmp_path, 32, VectorConfig())


def test_the_backends_agree_with_an_exact_scan_through_writes_and_filters(tmp_path):
    """Congruence: random upserts (new rows, changed and unchanged vectors), deletes and filters; after
    each write both backends answer exact searches as numpy does, and every row's similarity too."""
    rng = np.random.default_rng(5)
    dim, capacity = 24, 3000
    truth = np.zeros((capacity, dim), np.float32)
    present = np.zeros(capacity, bool)
    indexes = {name: cls(tmp_path / name, dim, VectorConfig()) for name, cls in BACKENDS.items()}
    for seq in range(1, 9):
        rows = rng.choice(capacity, 700, replace=False)
        vectors = clustered(700, dim, seed=seq)
        keep = present[rows] & (rng.random(700) < 0.5)  # half the rows already there keep their vector
        vectors[keep] = truth[rows[keep]]
        deletes = rng.choice(np.flatnonzero(present), min(200, int(present.sum())), replace=False) if present.any() else []
        deletes = [int(d) for d in deletes if d not in set(rows.tolist())]
        for index in indexes.values():
            index.apply(seq, rows.tolist(), vectors, deletes)
        truth[rows], present[rows] = vectors, True
        present[deletes] = False
        query = clustered(1, dim, seed=100 + seq)[0]
        allowed = rng.random(capacity) < rng.choice([0.01, 0.2, 1.0])
        live = np.flatnonzero(present & allowed)
        scores = truth[live] @ query
        want = live[np.argsort(-scores, kind="stable")[:10]]
        for name, index in indexes.items():
            assert index.count() == int(present.sum()), name
            got, got_scores = index.search(query, 10, allowed, exact=True)
            assert got.tolist() == want.tolist(), name
            np.testing.assert_allclose(got_scores, truth[got] @ query, atol=1e-5)
            approx, _ = index.search(query, 10, allowed)
            assert present[approx].all() and allowed[approx].all(), name
            probe = rng.choice(capacity, 50)
            np.testing.assert_allclose(index.similarity(query, probe), np.where(present[probe], truth[probe] @ query, 0),
                                       atol=1e-5, err_msg=name)


def test_faiss_rebuilds_its_graph_when_dead_nodes_outnumber_live_ones(tmp_path):
    index = FaissVectorIndex(tmp_path, 16, VectorConfig())
    first, second = clustered(2000, 16, seed=1), clustered(2000, 16, seed=2)
    index.apply(1, np.arange(2000), first, [])
    index.apply(2, np.arange(1500), second[:1500], [])  # 1500 rows change vector: 3500 nodes, 2000 live
    assert index._graph.ntotal == 3500
    index.apply(3, np.arange(1500, 2000), second[1500:], [0])  # now 4000 nodes, 1999 live: rebuilt
    assert index._graph.ntotal == 1999 and index.count() == 1999
    assert 0 not in index.search(second[0], 5)[0].tolist()
    rows, scores = index.search(second[1700], 1)
    assert rows.tolist() == [1700] and scores[0] == pytest.approx(1.0, abs=1e-5)


def test_a_directory_built_by_one_backend_opens_empty_under_the_other(tmp_path):
    """Switching backends never misreads the other's snapshot: the index opens at sequence 0, and the
    engine replays the catalogue's stored vectors into it."""
    vectors = clustered(100, 16)
    for writer, reader in (("hnsw", "faiss"), ("faiss", "hnsw")):
        path = tmp_path / writer
        index = BACKENDS[writer](path, 16, VectorConfig())
        index.apply(4, np.arange(100), vectors, [])
        index.save()
        other = BACKENDS[reader](path, 16, VectorConfig())
        assert other.applied_seq == 0 and other.count() == 0
