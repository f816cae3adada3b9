"""The one value a search's stages pass along: its candidates, best first, and what is known of them."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..index.filters import Condition
from ..index.keyword import Alternative
from .plan import SearchPlan
from .response import Hit, Understood
from .rules import Rule

Leg = tuple[np.ndarray, np.ndarray]  # (rows, scores), best first
# A query's vector from elsewhere than the engine's model (the server's batcher and cache), given up
# on with TimeoutError after the timeout it is passed (seconds; None: no limit).
QueryEmbedder = Callable[[str, "float | None"], np.ndarray]
_NO_ROWS = np.zeros(0, dtype=np.int64)


def rows_in(mask: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which of `rows` a filter mask holds (rows past its end, written since it was made, do not)."""
    inside = rows < len(mask)
    matched = np.zeros(len(rows), dtype=bool)
    matched[inside] = mask[rows[inside]]
    return matched
_NO_SCORES = np.zeros(0, dtype=np.float64)


@dataclass
class Candidates:
    plan: SearchPlan
    embed_query: QueryEmbedder | None = None
    text: str = ""  # what the legs search: the query less the words understanding turned into filters
    vector_text: str = ""  # what the vector leg embeds: the text, words the catalogue lacks corrected
    groups: Sequence[tuple[str, ...]] = ()  # the text's analysed words, each its variants
    alternatives: Sequence[Alternative] = ()  # corrections and synonyms, searched beside the words
    conditions: tuple[Condition, ...] = ()  # the request's filters and those the query's wording implies
    boosts: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (row mask, weight): products raised
    understood: Understood | None = None
    query_vector: np.ndarray | None = None
    allowed: np.ndarray | None = None  # the filter's row mask (None: every row)
    keyword: Leg | None = None  # each leg's own ranking
    vector: Leg | None = None
    best_chunks: dict[int, int] = field(default_factory=dict)  # row -> the chunk that won its vector score
    server_fused: bool = False  # the server fused both legs (it returns fused scores only)
    rows: np.ndarray = field(default_factory=lambda: _NO_ROWS)  # the ranking so far
    scores: np.ndarray = field(default_factory=lambda: _NO_SCORES)
    ranker_scores: dict[int, float] = field(default_factory=dict)
    rerank_scores: dict[int, tuple[float, int]] = field(default_factory=dict)  # row -> (score, rank)
    fired: list[Rule] = field(default_factory=list)  # the merchandising rules the query met
    rule_moves: dict[int, list[str]] = field(default_factory=dict)  # row -> ids of the rules that moved it
    records: dict[int, dict[str, Any]] = field(default_factory=dict)  # loaded once, shared by the stages
    hits: list[Hit] = field(default_factory=list)  # the page
    hit_rows: list[int] = field(default_factory=list)  # each hit's row
    facets: dict[str, list[dict[str, Any]]] | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.text = self.text or self.plan.query
        self.vector_text = self.vector_text or self.text
        self.conditions = self.conditions or self.plan.conditions

    def degrade(self, reason: str) -> None:
        self.warnings.append(reason)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the time the block takes to timings[name]: model calls from several stages all count as
        embed_ms, so a search's time without the model is took_ms - embed_ms whichever stage called it."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - started) * 1000

    def reorder_head(self, head: np.ndarray, head_scores: np.ndarray) -> np.ndarray:
        """Put `head` (rows of the ranking, rescored by a second stage) first, best first, and the rest
        of the ranking as it was below it, scored under the head so scores still fall down the list.
        Returns the order applied to `head`."""
        order = np.argsort(-head_scores, kind="stable")
        tail = self.rows[~np.isin(self.rows, head)]
        floor = float(head_scores.min()) if len(head_scores) else 0.0
        self.rows = np.concatenate([head[order], tail])
        self.scores = np.concatenate([head_scores[order], floor - 1.0 - np.arange(len(tail)) / max(len(tail), 1)])
        return order
