"""Ranks, and the cached best entries of one prefix; see "Speed" in the package docstring."""

from __future__ import annotations

import bisect
import heapq

# (-score, key): sorts best first, ties by normalised text.
Rank = tuple[float, str]


class TopList:
    """The cached best entries of one prefix, kept current on writes."""

    __slots__ = ("items", "ranks", "floor", "depth")

    def __init__(self, items: list[Rank], floor: Rank | None, depth: int) -> None:
        self.items = items  # sorted best first
        self.ranks = {rank[1]: rank for rank in items}
        # The best rank among the matching entries left out; None: none were.
        self.floor = floor
        self.depth = depth

    def update(self, key: str, rank: Rank | None) -> None:
        """Entry ``key`` now ranks ``rank`` for this prefix (None: it no longer matches)."""
        old = self.ranks.pop(key, None)
        if old is not None:
            del self.items[bisect.bisect_left(self.items, old)]
        if rank is None:
            return
        if self.floor is not None and rank >= self.floor:
            # It now ranks among the left-out entries, which the floor bounds.
            self.floor = min(self.floor, rank)
            return
        bisect.insort(self.items, rank)
        self.ranks[key] = rank
        if len(self.items) > 2 * self.depth:
            cut = self.items[self.depth :]
            del self.items[self.depth :]
            for dropped in cut:
                del self.ranks[dropped[1]]
            self.floor = cut[0] if self.floor is None else min(self.floor, cut[0])


def best_ranks(ranks: list[Rank], k: int) -> list[Rank]:
    """The ``k`` best of ``ranks``, each key once."""
    unique: dict[str, Rank] = {}
    for rank in ranks:
        unique.setdefault(rank[1], rank)
    return heapq.nsmallest(k, unique.values())
