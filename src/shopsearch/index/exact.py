"""The exact scan behind a filtered vector search: the top k of some rows of a float32 matrix by inner product.

Gathering the rows first (`matrix[rows] @ query`) copies every allowed vector before reading it again;
faiss's knn_inner_products_by_idx reads them in place, with the SIMD kernels it picked for this CPU
when it loaded: 2.4x faster at 16k of 100k rows on the benchmark machine (docs/benchmarks.md). Without
faiss the numpy gather answers, with the same rows and scores.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

_faiss: Any
try:
    _faiss = importlib.import_module("faiss")
except ImportError:  # the faiss extra is not installed
    _faiss = None

# Below this many rows the gather is as fast, and numpy's call is cheaper than faiss's.
_IN_PLACE_FROM = 512


def top_rows(matrix: np.ndarray, rows: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows (of `rows`, indexes into `matrix`) with the highest inner product with `query`, best first,
    equal scores by row; and their scores."""
    rows = np.asarray(rows, dtype=np.int64)
    k = min(k, len(rows))
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    if _faiss is None or len(rows) < _IN_PLACE_FROM or not matrix.flags.c_contiguous or matrix.dtype != np.float32:
        scores = matrix[rows] @ query
        top = np.argpartition(-scores, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
        found, found_scores = rows[top], scores[top]
    else:
        found, found_scores = _top_in_place(matrix, rows, query, k)
    order = np.lexsort((found, -found_scores))
    return found[order], found_scores[order].astype(np.float32)


def _top_in_place(matrix: np.ndarray, rows: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    assert _faiss is not None
    ids = np.ascontiguousarray(rows.reshape(1, -1))
    scores, found = np.empty(k, dtype=np.float32), np.empty(k, dtype=np.int64)
    _faiss.knn_inner_products_by_idx(_faiss.swig_ptr(query), _faiss.swig_ptr(matrix), _faiss.swig_ptr(ids),
                                     matrix.shape[1], 1, matrix.shape[0], len(rows), k,
                                     _faiss.swig_ptr(scores), _faiss.swig_ptr(found))
    return found, scores
