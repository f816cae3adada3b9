"""Fusing ranked lists from the keyword and vector legs.

Each leg is (rows, scores), best first. A row a leg did not return gets
nothing from that leg: fusion only adds, never subtracts.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

Leg = tuple[np.ndarray, np.ndarray]  # (rows, scores), best first

NORMALIZERS = ("minmax", "zscore")
FUSIONS = ("rrf", *NORMALIZERS)


def reciprocal_rank_fusion(legs: Sequence[Leg], weights: Sequence[float], k: float = 60.0) -> Leg:
    """Weighted RRF (Cormack et al. 2009): sum of weight / (k + rank), rank from 1."""
    if k <= 0:
        raise ValueError(f"rrf k must be positive, got {k}")
    contributions = [
        (np.asarray(rows), weight / (k + np.arange(1, len(rows) + 1, dtype=np.float64)))
        for (rows, _), weight in zip(legs, weights, strict=True)
    ]
    return _sum_by_row(contributions)


def normalize_scores(scores: np.ndarray, method: str) -> np.ndarray:
    """Scores mapped into a comparable, non-negative range.

    minmax: (s - min) / (max - min), a single-valued list becomes all ones.
    zscore: standardised, then shifted so the leg's lowest returned row is 0:
    a returned row never scores below one the leg did not return at all.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    if method == "minmax":
        low, high = scores.min(), scores.max()
        return np.ones_like(scores) if high == low else (scores - low) / (high - low)
    if method == "zscore":
        std = scores.std()
        if std == 0:
            return np.ones_like(scores)
        z = (scores - scores.mean()) / std
        return z - z.min()
    raise ValueError(f"unknown normalisation {method!r}; choose from {', '.join(NORMALIZERS)}")


def score_fusion(legs: Sequence[Leg], weights: Sequence[float], method: str = "minmax") -> Leg:
    """Weighted sum of per-leg normalised scores."""
    contributions = [
        (np.asarray(rows), weight * normalize_scores(scores, method))
        for (rows, scores), weight in zip(legs, weights, strict=True)
    ]
    return _sum_by_row(contributions)


def fuse(legs: Sequence[Leg], weights: Sequence[float], method: str = "rrf", rrf_k: float = 60.0) -> Leg:
    if any(w < 0 for w in weights):
        raise ValueError("fusion weights must not be negative")
    if method == "rrf":
        return reciprocal_rank_fusion(legs, weights, rrf_k)
    if method in NORMALIZERS:
        return score_fusion(legs, weights, method)
    raise ValueError(f"unknown fusion {method!r}; choose from {', '.join(FUSIONS)}")


def _sum_by_row(contributions: Sequence[tuple[np.ndarray, np.ndarray]]) -> Leg:
    """Add contributions that share a row; order by total, ties by first appearance."""
    if not contributions or all(len(rows) == 0 for rows, _ in contributions):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    all_rows = np.concatenate([rows for rows, _ in contributions]).astype(np.int64)
    all_values = np.concatenate([values for _, values in contributions])
    unique, first_seen, inverse = np.unique(all_rows, return_index=True, return_inverse=True)
    totals = np.zeros(len(unique), dtype=np.float64)
    np.add.at(totals, inverse, all_values)
    order = np.lexsort((first_seen, -totals))
    return unique[order], totals[order]
