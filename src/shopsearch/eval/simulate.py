"""Simulated shoppers, for developing and testing the behaviour loop without traffic.

A shopper looks down the list shown and examines position r with probability 1 / r^decay (so the
first result is always seen and attention falls off), and clicks an examined item with the
probability its true graded relevance gives. This is the position-based model itself, the
assumption a PBM click model (behaviour/clicks.py) then has to undo; an item nobody judged counts
as grade 0 (a shopper still clicks one now and then: `click_by_grade[0]` > 0 is noise).

Vectorised: `clicks` takes a whole matrix of sessions' grades at once, and `sessions` simulates
a query's n sessions in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..behaviour.events import Session


@dataclass(frozen=True)
class Shoppers:
    decay: float = 0.8  # examination of position r: 1 / r^decay
    click_by_grade: tuple[float, ...] = (0.05, 0.2, 0.5, 0.8)  # P(click | examined, grade 0..3)

    def __post_init__(self) -> None:
        if not self.decay >= 0:
            raise ValueError(f"decay must be >= 0, not {self.decay!r}")
        if not self.click_by_grade or not all(0.0 <= p <= 1.0 for p in self.click_by_grade):
            raise ValueError(f"click_by_grade must be probabilities, not {self.click_by_grade!r}")

    def examination(self, positions: int) -> np.ndarray:
        return 1.0 / np.arange(1, positions + 1, dtype=float) ** self.decay

    def grades(self, shown: Sequence[str], truth: Mapping[str, float]) -> np.ndarray:
        """The true grades of a list shown, unjudged items as 0, capped to the grades click_by_grade knows."""
        top = len(self.click_by_grade) - 1
        return np.clip(np.fromiter((truth.get(item, 0.0) for item in shown), dtype=float, count=len(shown)), 0, top)

    def clicks(self, grades: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Boolean clicks, the shape of `grades` (sessions x positions, or one list)."""
        grades = np.asarray(grades, dtype=float)
        attraction = np.asarray(self.click_by_grade)[np.rint(grades).astype(int)]
        return rng.random(grades.shape) < self.examination(grades.shape[-1]) * attraction

    def sessions(self, query: str, shown: Sequence[str], truth: Mapping[str, float], n: int, rng: np.random.Generator,
                 swap_rate: float = 0.0) -> list[Session]:
        """n shoppers' sessions on the list `shown`, each seeing it as adjacent_swaps perturbs it."""
        orders = adjacent_swaps(n, len(shown), swap_rate, rng)
        clicked = self.clicks(self.grades(shown, truth)[orders], rng)
        ids = np.asarray(shown, dtype=object)[orders]
        return [Session(query, tuple(row.tolist()), frozenset((np.flatnonzero(c) + 1).tolist()), frozenset())
                for row, c in zip(ids, clicked)]


def adjacent_swaps(n: int, positions: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """n orders of range(positions), one per row: the identity, or with probability `rate` the identity with one
    random adjacent pair swapped. Real logs have that much variety from ties, index updates and a page's own
    randomness, and it is what lets a click model tell an item's position from its appeal."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be a probability, not {rate!r}")
    orders = np.tile(np.arange(positions), (n, 1))
    if positions < 2:
        return orders
    rows = np.flatnonzero(rng.random(n) < rate)
    at = rng.integers(0, positions - 1, len(rows))
    orders[rows, at], orders[rows, at + 1] = at + 1, at
    return orders
