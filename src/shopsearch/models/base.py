"""The seam between search and whatever turns text into vectors."""

from __future__ import annotations

import threading
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 row vectors.

    Queries and documents are separate calls because retrieval models embed
    them differently (instruction or "query: " prefixes on one side only).
    """

    name: str
    dim: int  # of the vectors it returns by default

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class Reranker(Protocol):
    """Scores how well each document answers the query: relevance in [0, 1], in input order."""

    name: str

    def score(self, query: str, documents: Sequence[str], instruction: str | None = None) -> np.ndarray: ...


class ModelUnavailable(RuntimeError):
    """The model's package or files are missing; the message says what to install."""


class InputTooLong(ValueError):
    """A text is longer than the model takes and the truncation policy is "error"."""

    def __init__(self, index: int, tokens: int, limit: int) -> None:
        super().__init__(f"input {index} has {tokens} tokens, more than the model's limit of {limit} (truncation policy: error)")
        self.index, self.tokens, self.limit = index, tokens, limit


TRUNCATION_POLICIES = ("truncate", "error")


def check_truncation(policy: str) -> None:
    if policy not in TRUNCATION_POLICIES:
        raise ValueError(f"truncation must be one of {TRUNCATION_POLICIES}, got {policy!r}")


class TruncationCounter:
    """How many inputs were cut to fit (read by stats and metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.count += n


def matryoshka(vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
    """The first `dimensions` components, re-normalised (all of them when None)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if dimensions is not None:
        vectors = vectors[:, :dimensions]
    return l2_normalize(vectors)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def padding_groups(lengths: np.ndarray, max_batch: int, waste: float = 0.25) -> list[np.ndarray]:
    """Split rows into batches of similar token counts: each batch's padding (its rows times its
    longest row, minus the real tokens) stays within `waste` of its real tokens, or it is one row.

    Rows go in ascending length; a batch closes when the next row would break the bound or the
    batch holds `max_batch` rows. Every row appears in exactly one batch.
    """
    order = np.argsort(lengths, kind="stable")
    groups: list[np.ndarray] = []
    begin, real = 0, 0
    for position, row in enumerate(order):
        length = int(lengths[row])
        size = position - begin + 1
        # Ascending order: the newcomer is the longest, so the batch would be padded to its length.
        if size > 1 and (size > max_batch or size * length > (real + length) * (1 + waste)):
            groups.append(order[begin:position])
            begin, real = position, 0
        real += length
    if len(order):
        groups.append(order[begin:])
    return groups
