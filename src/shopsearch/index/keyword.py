"""The keyword-index seam: BM25 over analysed product fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from .filters import Condition

if TYPE_CHECKING:
    from ..text import Analyzer

# Fields the keyword leg indexes, in the order results explain them.
TEXT_FIELDS = ("title", "brand", "category", "description")


def analyzed_fields(analyzer: Analyzer, record: Mapping[str, Any]) -> dict[str, str]:
    """What the keyword leg indexes of a product: each text field as its space-joined terms."""
    return {name: " ".join(analyzer.terms(str(record.get(name) or ""))) for name in TEXT_FIELDS}


@dataclass(frozen=True)
class Alternative:
    """Words searched beside the query's own (a typo's correction, a synonym): a product matches it
    when it has every one of its groups, and that match scores `weight` times what it would."""

    groups: tuple[tuple[str, ...], ...]
    weight: float
    text: str = ""  # the words as shown (explanations); the index reads only the groups


class KeywordIndex(Protocol):
    @property
    def applied_seq(self) -> int:
        """The last catalogue sequence applied; opening replays what follows."""

    def apply(self, seq: int, upserts: Mapping[int, Mapping[str, str]], deletes: Sequence[int]) -> None:
        """Replace rows' analysed fields (text of space-joined terms) and drop deleted rows, durably."""

    def search(
        self, groups: Sequence[tuple[str, ...]], limit: int, allowed: np.ndarray | None = None,
        alternatives: Sequence[Alternative] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top `limit` rows by score among rows allowed by the mask: (rows, scores), best first.

        Each group is one query token's variant terms, scored by its best variant; each
        alternative adds its weighted score where a product has all of its groups.
        """

    def refresh(self) -> None:
        """A reader: see what the writer (another process) committed since (a no-op where reads always do)."""

    def count(self) -> int: ...

    def size_bytes(self) -> int: ...

    def close(self) -> None: ...


class ServerFusion(Protocol):
    """An index whose server holds both legs and fuses them itself (Milvus hybrid_search)."""

    def fused_search(self, groups: Sequence[tuple[str, ...]], query_vector: np.ndarray, depth: int, rrf_k: float,
                     allowed: np.ndarray | None, where: Sequence[Condition] | None,
                     alternatives: Sequence[Alternative] = ()) -> tuple[np.ndarray, np.ndarray] | None:
        """Both legs `depth` deep under the same filter, fused by reciprocal rank (sum of 1 / (rrf_k + rank)):
        (rows, fused scores), best first; None when the server cannot answer it as asked."""


def top_allowed(read: Callable[[int], tuple[np.ndarray, np.ndarray]], limit: int, allowed: np.ndarray,
                first_depth: int, max_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top `limit` rows the mask allows, from an unfiltered ranking that `read(depth)`
    returns `depth` deep: they are its first allowed rows, so read deeper (x4) until `limit`
    pass, the ranking ends, or max_depth is reached. Rows past the mask were added after it
    was computed (another process writing): they are not known to pass, so they are dropped."""
    depth = min(first_depth, max_depth)
    while True:
        rows, scores = read(depth)
        keep = np.zeros(len(rows), dtype=bool)
        inside = rows < len(allowed)
        keep[inside] = allowed[rows[inside]]
        if np.count_nonzero(keep) >= limit or len(rows) < depth or depth >= max_depth:
            return rows[keep][:limit], scores[keep][:limit]
        depth = min(max_depth, depth * 4)
