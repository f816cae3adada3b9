"""Graded judgments from the search log: a position-based click model (PBM) fitted by EM.

A shopper examines rank r with probability gamma[r] and clicks an examined item d with probability
alpha[q, d], its attractiveness for query q; a click needs both (Chuklin, Markov & de Rijke, "Click
Models for Web Search", 2015, ch. 4 for the model, the EM updates are their standard ones). Raw CTR
mixes the two, so an item that always sits at rank 1 looks better than it is; PBM separates them,
because gamma is shared by every query and item and so is learnt from all of them at once.

Everything the EM needs per impression depends only on (query-item pair, rank, clicked), so the
sessions are first counted into cells (pair, rank) -> (impressions, clicks); each iteration is then
a handful of numpy operations over the cells, never a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .events import Session

# Grade cuts on alpha: midpoints between the click probabilities that the graded-relevance mapping
# of ERR (Chapelle et al. 2009), P(satisfied | grade g) = (2^g - 1) / 2^3, gives grades 0..3:
# 0, 0.125, 0.375, 0.875. So a grade is the one whose expected attractiveness is nearest alpha.
ERR_CUTS = (0.0625, 0.25, 0.625)
# A purchase is a far stronger signal than a click (the shopper paid): a purchased item is at least
# this grade, whatever its alpha says.
PURCHASE_GRADE = 2
GAMMA_FLOOR = 1e-6  # a rank never clicked drives EM's gamma to 0; the model's gamma stays in (0, 1]
TOLERANCE = 1e-6


@dataclass(frozen=True)
class ClickModel:
    examination: np.ndarray  # gamma per position 1..max_rank (index 0 = rank 1); the largest is 1, see fit_pbm
    relevance: dict[str, dict[str, float]]  # query -> item -> alpha, in (0, 1)
    impressions: dict[str, dict[str, int]]  # query -> item -> times shown at rank <= max_rank
    purchases: dict[str, dict[str, int]] = field(default_factory=dict)  # query -> item -> sessions it was bought in
    iterations: int = 0  # EM iterations run (fewer than asked once converged)


@dataclass(frozen=True)
class Cells:
    """The sessions counted per (pair, rank); pairs[i] is the (query, item) that pair index i stands for."""

    pairs: list[tuple[str, str]]
    pair: np.ndarray  # int, per cell
    rank: np.ndarray  # int, 0-based, per cell
    shown: np.ndarray  # float, impressions per cell
    clicks: np.ndarray  # float, clicks per cell
    purchases: np.ndarray  # int, per pair


def count_cells(sessions: Iterable[Session], max_rank: int) -> Cells:
    """One pass over the sessions (the only Python loop over impressions)."""
    index: dict[tuple[str, str], int] = {}
    keys: list[int] = []
    clicked: list[bool] = []
    bought: list[int] = []
    for session in sessions:
        for position, item in enumerate(session.shown[:max_rank], start=1):
            pair = index.setdefault((session.query, item), len(index))
            keys.append(pair * max_rank + position - 1)
            clicked.append(position in session.clicked)
            if position in session.purchased:
                bought.append(pair)
    cells, inverse = np.unique(np.asarray(keys, dtype=np.int64), return_inverse=True)
    return Cells(pairs=list(index), pair=cells // max_rank, rank=cells % max_rank,
                 shown=np.bincount(inverse, minlength=len(cells)).astype(float),
                 clicks=np.bincount(inverse, weights=np.asarray(clicked, dtype=float), minlength=len(cells)),
                 purchases=np.bincount(np.asarray(bought, dtype=np.int64), minlength=len(index)))


# Beta pseudo-counts (clicks, impressions) of alpha's prior: mean 0.1, as most items a search shows
# are not what the shopper wanted. A prior of mean 0.5 (1, 2) lifted rarely examined irrelevant items a
# grade: on benchmarks/bench_clicks.py's simulated shoppers, exact-grade agreement 0.72 against 0.54.
PRIOR = (0.2, 2.0)


def fit_pbm(sessions: Iterable[Session], max_rank: int = 10, iterations: int = 50,
            prior: tuple[float, float] = PRIOR) -> ClickModel:
    """Fit PBM by EM; positions beyond max_rank are ignored.

    alpha has a Beta prior given as pseudo-counts prior = (clicks, impressions): alpha = (expected
    attractive impressions + clicks) / (impressions + prior impressions), so an item shown once and
    clicked gets 0.4 with the default, not 1, and one never clicked stays above 0. Stops when no
    parameter moves more than 1e-6, or after `iterations`. Deterministic: no randomness anywhere.

    PBM's likelihood sees only gamma * alpha, so its scale is a convention: after every step gamma
    is divided by its largest value (and alpha multiplied by it), which makes the most examined rank
    examined for sure and alpha the click probability of an item certainly looked at, the absolute
    meaning the grade cuts rely on. Dividing by the largest keeps gamma <= 1 and only lowers alpha.
    """
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, not {max_rank}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, not {iterations}")
    a0, n0 = prior
    if not 0 < a0 < n0:
        raise ValueError(f"prior must be (clicks, impressions) with 0 < clicks < impressions, not {prior!r}")
    cells = count_cells(sessions, max_rank)
    n_pairs = len(cells.pairs)
    pair_shown = np.bincount(cells.pair, weights=cells.shown, minlength=n_pairs)
    rank_shown = np.bincount(cells.rank, weights=cells.shown, minlength=max_rank)
    rank_clicks = np.bincount(cells.rank, weights=cells.clicks, minlength=max_rank)
    pair_clicks = np.bincount(cells.pair, weights=cells.clicks, minlength=n_pairs)
    seen = rank_shown > 0

    # Start from CTR per rank relative to the best rank (what gamma is under random rankings), and
    # alpha as the smoothed clicks per expected examination under that gamma.
    ctr = np.divide(rank_clicks, rank_shown, out=np.zeros(max_rank), where=seen)
    gamma = ctr / ctr.max() if ctr.max() > 0 else np.ones(max_rank)
    gamma = np.clip(np.where(seen, gamma, 1.0), 0.01, 1.0)
    examined = np.bincount(cells.pair, weights=cells.shown * gamma[cells.rank], minlength=n_pairs)
    alpha = np.clip((pair_clicks + a0) / (examined + n0), 1e-6, 1 - 1e-6)

    done = 0
    noclicks = cells.shown - cells.clicks
    while done < iterations:
        done += 1
        g, a = gamma[cells.rank], alpha[cells.pair]
        # Posterior of an impression without click: attractive but unexamined, or examined but not attractive.
        miss = 1.0 - g * a
        attractive = cells.clicks + noclicks * a * (1.0 - g) / miss
        looked = cells.clicks + noclicks * g * (1.0 - a) / miss
        new_alpha = (np.bincount(cells.pair, weights=attractive, minlength=n_pairs) + a0) / (pair_shown + n0)
        new_gamma = np.divide(np.bincount(cells.rank, weights=looked, minlength=max_rank), rank_shown,
                              out=gamma.copy(), where=seen)  # a rank nobody saw keeps its start
        top = new_gamma.max()
        new_gamma, new_alpha = np.clip(new_gamma / top, GAMMA_FLOOR, 1.0), new_alpha * top
        change = max(float(np.abs(new_gamma - gamma).max(initial=0.0)), float(np.abs(new_alpha - alpha).max(initial=0.0)))
        gamma, alpha = new_gamma, new_alpha
        if change < TOLERANCE:
            break

    relevance: dict[str, dict[str, float]] = {}
    impressions: dict[str, dict[str, int]] = {}
    purchases: dict[str, dict[str, int]] = {}
    for i, (query, item) in enumerate(cells.pairs):
        relevance.setdefault(query, {})[item] = float(alpha[i])
        impressions.setdefault(query, {})[item] = int(pair_shown[i])
        if cells.purchases[i]:
            purchases.setdefault(query, {})[item] = int(cells.purchases[i])
    return ClickModel(examination=gamma, relevance=relevance, impressions=impressions, purchases=purchases, iterations=done)


def grade(alpha: float, cuts: tuple[float, float, float] = ERR_CUTS) -> int:
    """0..3: how many cuts alpha reaches."""
    return sum(alpha >= cut for cut in cuts)


def graded_judgments(model: ClickModel, min_impressions: int = 5, cuts: tuple[float, float, float] = ERR_CUTS,
                     purchase_grade: int = PURCHASE_GRADE) -> dict[str, dict[str, float]]:
    """query -> {item_id: grade 0..3} for the pairs shown at least min_impressions times (fewer say too little).

    Grades are absolute, by `cuts` on alpha (ERR_CUTS by default; see there), rather than relative
    to the query's best item: a query whose every result is poor should not get a grade-3 item. An
    item bought in at least one of its sessions gets at least `purchase_grade`.
    """
    if list(cuts) != sorted(cuts):
        raise ValueError(f"cuts must be ascending, not {cuts!r}")
    judged: dict[str, dict[str, float]] = {}
    for query, items in model.relevance.items():
        shown, bought = model.impressions.get(query, {}), model.purchases.get(query, {})
        grades = {item: float(max(grade(alpha, cuts), purchase_grade if bought.get(item) else 0))
                  for item, alpha in items.items() if shown.get(item, 0) >= min_impressions}
        if grades:
            judged[query] = grades
    return judged
