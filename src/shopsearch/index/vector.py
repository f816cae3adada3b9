"""The vector-index seam: cosine nearest neighbours over normalised vectors."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from .filters import Condition


class VectorIndex(Protocol):
    applied_seq: int  # last catalogue sequence applied; the engine replays what follows
    dim: int
    # Whether searches may run while apply() changes the index. hnswlib's graph may not be read
    # during an insert, so the engine's write lock keeps readers out then; a server (Milvus)
    # orders its own reads and writes.
    reads_during_writes: bool
    # Whether the index lives on a server that may be away (Milvus). The engine writes to such an
    # index before the catalogue commits, so that a failed write leaves the catalogue as it was
    # (Backends.commit_upsert); a local index is brought up after the commit, and replays it after a crash.
    remote: bool

    def apply(self, seq: int, rows: Sequence[int], vectors: np.ndarray, deletes: Sequence[int],
              records: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Add or replace rows' vectors and remove deleted rows (in memory; see save).

        records (aligned with rows) are the items themselves, for backends that filter on
        their own copy of the fields; others ignore them."""

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, exact: bool = False,
        where: Sequence[Condition] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top k rows by cosine similarity among rows allowed by the mask: (rows, similarities), best first.

        exact=True scans every allowed row instead of the approximate index (for measuring recall).
        where: the conditions the mask was computed from, for a backend that can filter by them
        itself (the mask stays the authority: both must select the same rows)."""

    def similarity(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query to each given row (0 for rows without a vector)."""

    def centroid(self, rows: np.ndarray) -> np.ndarray:
        """The normalised mean of the given rows' vectors (zeros when none has one)."""

    def save(self) -> None:
        """Persist a snapshot atomically; a crash keeps the previous one."""

    def count(self) -> int: ...

    def size_bytes(self) -> int: ...

    def close(self) -> None:
        """Release what the index holds open (a server connection); saving is save()'s job."""


def fit_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A row mask cut or padded (with False) to `size` rows: a filter computed over the catalogue's rows
    against an index whose row count differs."""
    return mask[:size] if len(mask) >= size else np.pad(mask, (0, size - len(mask)))
