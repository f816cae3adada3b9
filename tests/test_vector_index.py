import numpy as np
import pytest

from shopsearch.config import VectorConfig
from shopsearch.index.vector_hnsw import HnswVectorIndex


def clustered(n, dim, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, dim))
    vectors = centers[rng.integers(0, 20, n)] + 0.5 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    vectors = clustered(6000, 48)
    index = HnswVectorIndex(tmp_path_factory.mktemp("vec"), 48, VectorConfig())
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


def test_updates_deletes_and_snapshot_reload(tmp_path):
    vectors = clustered(500, 16)
    index = HnswVectorIndex(tmp_path, 16, VectorConfig())
    index.apply(1, np.arange(500), vectors, [])
    index.apply(2, [], np.zeros((0, 16), np.float32), [7])
    rows, _ = index.search(vectors[7], 5)
    assert 7 not in rows.tolist()
    index.apply(3, [7, 8], vectors[[100, 101]], [])  # row 7 returns with a new vector; 8 is replaced
    rows, scores = index.search(vectors[100], 3)
    assert {7, 100} <= set(rows.tolist()) and scores[0] == pytest.approx(1.0, abs=1e-4)
    index.save()
    reloaded = HnswVectorIndex(tmp_path, 16, VectorConfig())
    assert reloaded.applied_seq == 3 and reloaded.count() == 500
    assert reloaded.search(vectors[101], 1)[0].tolist() in ([8], [101])
    with pytest.raises(ValueError, match="32-d"):
        HnswVectorIndex(tmp_path, 32, VectorConfig())
