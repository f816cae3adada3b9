"""The keyword-index seam: BM25 over analysed product fields."""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence

import numpy as np

# Fields the keyword leg indexes, in the order results explain them.
TEXT_FIELDS = ("title", "brand", "category", "description")


class KeywordIndex(Protocol):
    applied_seq: int  # last catalogue sequence applied; the engine replays what follows

    def apply(self, seq: int, upserts: Mapping[int, Mapping[str, str]], deletes: Sequence[int]) -> None:
        """Replace rows' analysed fields (text of space-joined terms) and drop deleted rows, durably."""

    def search(
        self, groups: Sequence[tuple[str, ...]], limit: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top `limit` rows by score among rows allowed by the mask: (rows, scores), best first.

        Each group is one query token's variant terms, scored by its best variant.
        """

    def count(self) -> int: ...

    def size_bytes(self) -> int: ...

    def close(self) -> None: ...
