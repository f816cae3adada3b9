"""Online experiments: which of two search configurations shoppers prefer.

Two methods, both over the search log and its click events:

- `interleave` (team-draft interleaving, Radlinski, Kurup & Joachims, CIKM 2008): each search in the
  experiment shows one list merged from both variants' rankings, each item remembered with the team
  (variant) that contributed it; a click credits its team, and a search whose clicks credit one team
  more is a win for it (equal credit: a tie; no click: no evidence, not counted). Both variants are
  judged by the same shopper on the same query, so it needs one to two orders of magnitude fewer
  searches than an A/B split to see the same difference (Chapelle et al., TOIS 2012). Compared with
  a two-sided sign test over wins and losses.
- `ab`: shoppers are split by a hash of their user_id, each sees one variant's list; compared on the
  share of searches with a click, by a two-proportion z-test.

A user always gets the same assignment: the A/B half by hash(name, user_id), and for interleaving the
same draft for the same query (its coin flips seeded by hash(name, user_id, query)).
`winner` stays None until p < ALPHA.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

METHODS = ("interleave", "ab")
ALPHA = 0.05
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
INTERLEAVED = "interleaved"  # the variant a search in an interleaving experiment reports
SEPARATOR = "/"  # the search log's variant: "<experiment>/<variant>"


class InvalidExperiment(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Experiment:
    name: str
    method: str  # one of METHODS
    variants: Mapping[str, Mapping[str, Any]]  # exactly two: variant name -> search parameters
    started: float  # unix seconds
    stopped: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise InvalidExperiment("name: 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
                                    "name")
        if self.method not in METHODS:
            raise InvalidExperiment(f"method must be one of {', '.join(METHODS)}, not {self.method!r}", "method")
        if len(self.variants) != 2:
            raise InvalidExperiment(f"an experiment compares exactly two variants, not {len(self.variants)}", "variants")
        for variant in self.variants:
            if not isinstance(variant, str) or not NAME.match(variant) or variant == INTERLEAVED:
                raise InvalidExperiment(f"variant name {variant!r}: 1-64 letters, digits, '_', '.' or '-' "
                                        f"(and not {INTERLEAVED!r})", "variants")

    @property
    def names(self) -> tuple[str, str]:
        first, second = self.variants
        return first, second

    @property
    def running(self) -> bool:
        return self.stopped is None

    def log_variant(self, variant: str) -> str:
        """How a search in this experiment is recorded in the search log (and split in analytics)."""
        return f"{self.name}{SEPARATOR}{variant}"


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest(), "big")


def assign(experiment: Experiment, user_id: str) -> str:
    """The A/B variant a user sees: a hash of the experiment and the user, so the split is stable and even."""
    return experiment.names[_hash(experiment.name, user_id) % 2]


def draft_seed(experiment: Experiment, user_id: str, query: str) -> int:
    """The interleaving's coin flips for this user and query: the same list each time they search it."""
    return _hash(experiment.name, user_id, query)


def team_draft(first: Sequence[str], second: Sequence[str], k: int,
               rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Team-draft interleaving of two rankings: up to k ids, and the team (0: first, 1: second) of each.

    Each round the team with fewer picks so far (a coin flip when even) adds its best item not yet
    in the list; a team whose ranking is used up leaves the other to fill the rest.
    """
    merged: list[str] = []
    teams: list[int] = []
    seen: set[str] = set()
    lists = (first, second)
    cursors = [0, 0]
    picks = [0, 0]

    def next_item(team: int) -> str | None:
        ranking = lists[team]
        while cursors[team] < len(ranking) and ranking[cursors[team]] in seen:
            cursors[team] += 1
        return ranking[cursors[team]] if cursors[team] < len(ranking) else None

    while len(merged) < k:
        order = (0, 1) if picks[0] < picks[1] or (picks[0] == picks[1] and rng.random() < 0.5) else (1, 0)
        for team in order:
            item = next_item(team)
            if item is not None:
                break
        else:
            break  # both used up
        merged.append(item)
        teams.append(team)
        seen.add(item)
        picks[team] += 1
    return merged, teams


def credit(teams: Sequence[int], clicked: Iterable[int]) -> int:
    """+1 if the clicks (1-based positions) credit the first team more, -1 the second, 0 a tie."""
    counts = [0, 0]
    for position in clicked:
        if 1 <= position <= len(teams):
            counts[teams[position - 1]] += 1
    return (counts[0] > counts[1]) - (counts[0] < counts[1])


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test (binomial, p = 1/2) over the non-tied outcomes; 1.0 with none."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2 ** n)))


def two_proportion_test(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided pooled z-test of hits_a / n_a = hits_b / n_b; 1.0 when either side is empty or nothing differs."""
    if n_a == 0 or n_b == 0:
        return 1.0
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:
        return 1.0
    z = (hits_a / n_a - hits_b / n_b) / spread
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class Outcome:
    sessions: int  # searches in the experiment
    wins: dict[str, int]  # interleave: searches won; ab: searches with a click
    ties: int  # interleave: searches with clicks crediting both teams equally; ab: 0
    p_value: float
    winner: str | None
    searches: dict[str, int]  # ab: searches per variant; interleave: both are `sessions`


def interleave_outcome(experiment: Experiment, sessions: int, outcomes: Iterable[int]) -> Outcome:
    """From credit() of each search with a click."""
    tally = np.bincount(np.asarray(list(outcomes), dtype=int) + 1, minlength=3)  # [-1, 0, +1]
    second_wins, ties, first_wins = (int(n) for n in tally)
    p = sign_test(first_wins, second_wins)
    a, b = experiment.names
    winner = (a if first_wins > second_wins else b) if p < ALPHA else None
    return Outcome(sessions, {a: first_wins, b: second_wins}, ties, p, winner, {a: sessions, b: sessions})


def ab_outcome(experiment: Experiment, searches: Mapping[str, int], clicked: Mapping[str, int]) -> Outcome:
    """From the searches and the searches with a click of each variant."""
    a, b = experiment.names
    n_a, n_b = searches.get(a, 0), searches.get(b, 0)
    c_a, c_b = clicked.get(a, 0), clicked.get(b, 0)
    p = two_proportion_test(c_a, n_a, c_b, n_b)
    winner = (a if c_a / n_a > c_b / n_b else b) if p < ALPHA else None
    return Outcome(n_a + n_b, {a: c_a, b: c_b}, 0, p, winner, {a: n_a, b: n_b})
