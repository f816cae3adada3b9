"""The vector-index seam: cosine nearest neighbours over normalised vectors."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class VectorIndex(Protocol):
    applied_seq: int  # last catalogue sequence applied; the engine replays what follows
    dim: int

    def apply(self, seq: int, rows: Sequence[int], vectors: np.ndarray, deletes: Sequence[int]) -> None:
        """Add or replace rows' vectors and remove deleted rows (in memory; see save)."""

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top k rows by cosine similarity among rows allowed by the mask: (rows, similarities), best first.

        exact=True scans every allowed row instead of the approximate index (for measuring recall)."""

    def similarity(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query to each given row (0 for rows without a vector)."""

    def centroid(self, rows: np.ndarray) -> np.ndarray:
        """The normalised mean of the given rows' vectors (zeros when none has one)."""

    def save(self) -> None:
        """Persist a snapshot atomically; a crash keeps the previous one."""

    def count(self) -> int: ...

    def size_bytes(self) -> int: ...
