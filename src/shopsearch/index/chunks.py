"""Vectors of long descriptions' chunks, searched beside the items' own vectors.

Only items whose description is longer than one chunk have entries here. An
item's vector score is the best of its own vector and its chunks' (max-sim),
and the search reports which chunk won, for the reranker to read.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .vector import VectorIndex


class ChunkIndex:
    def __init__(self, vectors: VectorIndex, live: Sequence[tuple[int, int]]) -> None:
        """vectors: an empty or previously saved vector index of chunk ids (any backend)."""
        self._vectors = vectors
        self._row_of = np.full(0, -1, dtype=np.int64)  # chunk id -> item row, -1 when retired
        self._set(np.asarray([c for c, _ in live], dtype=np.int64), np.asarray([r for _, r in live], dtype=np.int64))

    @property
    def applied_seq(self) -> int:
        return self._vectors.applied_seq

    @property
    def dim(self) -> int:
        return self._vectors.dim

    @property
    def reads_during_writes(self) -> bool:
        return self._vectors.reads_during_writes

    def _set(self, chunks: np.ndarray, rows: np.ndarray) -> None:
        if len(chunks) and chunks.max() >= len(self._row_of):
            grown = np.full(max(int(chunks.max()) + 1, 2 * len(self._row_of)), -1, dtype=np.int64)
            grown[: len(self._row_of)] = self._row_of
            self._row_of = grown
        self._row_of[chunks] = rows

    def apply(self, seq: int, batch: Sequence[tuple[int, int, bool, np.ndarray | None]]) -> None:
        """batch: (chunk, row, deleted, vector) as the catalogue store records them."""
        live: list[tuple[int, int, np.ndarray]] = []
        for c, r, deleted, v in batch:
            if not deleted:
                assert v is not None  # the store keeps a vector with every live chunk (NULL only once retired)
                live.append((c, r, v))
        retired = [c for c, _, deleted, _ in batch if deleted]
        vectors = np.stack([v for *_, v in live]) if live else np.zeros((0, self.dim), np.float32)
        self._vectors.apply(seq, [c for c, _, _ in live], vectors, retired)
        self._set(np.asarray([c for c, _, _ in live], dtype=np.int64), np.asarray([r for _, r, _ in live], dtype=np.int64))
        if retired:
            gone = np.asarray(retired, dtype=np.int64)
            # Past the end: a chunk this index never held (a repair retires what a failed write may have left).
            self._row_of[gone[gone < len(self._row_of)]] = -1

    def count(self) -> int:
        return int(np.count_nonzero(self._row_of >= 0))

    def search(self, query: np.ndarray, k: int, allowed_rows: np.ndarray | None = None,
               exact: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The k best items by their best chunk: (rows, similarities, winning chunk ids)."""
        if self.count() == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0, dtype=np.float32), empty
        allowed = None
        if allowed_rows is not None:
            owner = self._row_of
            inside = (owner >= 0) & (owner < len(allowed_rows))
            allowed = np.zeros(len(owner), dtype=bool)
            allowed[inside] = allowed_rows[owner[inside]]
        # Several chunks of one item can fill the list; ask for more than k chunks.
        chunks, sims = self._vectors.search(query, 3 * k, allowed, exact=exact)
        rows = self._row_of[chunks]
        keep = rows >= 0
        chunks, sims, rows = chunks[keep], sims[keep], rows[keep]
        _, first = np.unique(rows, return_index=True)  # hits come best first: the first per row is its best
        first = np.sort(first)[:k]
        return rows[first], sims[first], chunks[first]

    def save(self) -> None:
        self._vectors.save()

    def close(self) -> None:
        self._vectors.close()

    def size_bytes(self) -> int:
        return self._vectors.size_bytes()


def merge_best(item_leg: tuple[np.ndarray, np.ndarray], chunk_hits: tuple[np.ndarray, np.ndarray, np.ndarray],
               k: int) -> tuple[tuple[np.ndarray, np.ndarray], dict[int, int]]:
    """Each item scored by the best of its own vector and its chunks: the merged top k, and the rows a chunk won."""
    rows = np.concatenate([item_leg[0], chunk_hits[0]])
    sims = np.concatenate([item_leg[1], chunk_hits[1]]).astype(np.float32)
    source = np.concatenate([np.full(len(item_leg[0]), -1, dtype=np.int64), chunk_hits[2]])
    order = np.argsort(-sims, kind="stable")
    rows, sims, source = rows[order], sims[order], source[order]
    _, first = np.unique(rows, return_index=True)
    first = np.sort(first)[:k]
    won = {int(r): int(c) for r, c in zip(rows[first], source[first]) if c >= 0}
    return (rows[first], sims[first]), won
