"""Similar items ("you may also like"): the nearest products to one item by its own vector.

A vector search whose query is the item's stored vector, run through the pipeline's own stages
(filters inside the vector search as everywhere, the page and its records), with two stages of its
own: the item itself left out, and optionally products of its category first (a preference, not a
filter: others follow when there are too few). No model call: the vector was stored with the item.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from ..index.filters import Condition
from . import pipeline
from .candidates import Candidates, rows_in
from .context import SearchContext
from .plan import MAX_K, SearchPlan
from .response import SearchResponse
from .stages import Stage
from .stages.fuse import Fuse
from .stages.page import Page
from .stages.retrieve import Retrieve

CATEGORY_FIELD = "category"
CATEGORY_DEPTH = 5  # with the category preferred, this many times k are read to find enough of it


class LeaveOut:
    """The item itself (and its chunks' row) never counts as similar to itself."""

    name = "leave_out"

    def __init__(self, row: int) -> None:
        self.row = row

    def applies(self, candidates: Candidates) -> bool:
        return True

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        keep = candidates.rows != self.row
        candidates.rows, candidates.scores = candidates.rows[keep], candidates.scores[keep]
        return candidates


class PreferCategory:
    name = "same_category"

    def __init__(self, category: Any) -> None:
        values = tuple(v for v in (category if isinstance(category, list) else [category]) if isinstance(v, (str, int, float)))
        self.condition = Condition(CATEGORY_FIELD, "eq", values) if values else None

    def applies(self, candidates: Candidates) -> bool:
        return self.condition is not None and len(candidates.rows) > 0

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        assert self.condition is not None  # applies() checked
        mask = context.backends.mask((self.condition,))
        same = rows_in(mask, candidates.rows) if mask is not None else np.zeros(len(candidates.rows), dtype=bool)
        order = np.concatenate([np.flatnonzero(same), np.flatnonzero(~same)])  # stable: nearest first within each
        candidates.rows, candidates.scores = candidates.rows[order], candidates.scores[order]
        return candidates


class Cut:
    """The answer's k: the legs read deeper (the item itself, the category's share)."""

    name = "cut"

    def __init__(self, k: int) -> None:
        self.k = k

    def applies(self, candidates: Candidates) -> bool:
        return True

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        candidates.rows, candidates.scores = candidates.rows[: self.k], candidates.scores[: self.k]
        return candidates


def similar(context: SearchContext, item_id: str, k: int = 10, filters: Any = None,
            same_category: bool = False) -> SearchResponse | None:
    """The k items nearest to `item_id` (None when there is no such item), shaped as a search's answer."""
    store = context.backends.store
    row = store.rows_by_id([item_id]).get(item_id)
    if row is None:
        return None
    _, record, vector = store.current([row])[0]
    if record is None or vector is None:
        return None  # deleted since
    category = record.get(CATEGORY_FIELD) if same_category else None
    # The plan checks k and the filters as a search's; the leg then reads deeper than k.
    plan = SearchPlan.build(item_id, context.config.search, context.abilities, mode="vector", k=k, filters=filters,
                            understand=False, rules=False, ranker=False, rerank=False, explain=False)
    depth = min(k * CATEGORY_DEPTH if category is not None else k + 1, MAX_K)
    stages: list[Stage] = [Retrieve(), Fuse(), LeaveOut(row), *([PreferCategory(category)] if category is not None else []),
                           Cut(k), Page()]
    started = time.perf_counter()
    found = pipeline.run(replace(plan, k=depth), context, lambda text, timeout: vector, pipeline=stages)
    timings = {name: ms for name, ms in found.timings.items() if name != "embed_ms"}  # no model call: the stored vector
    return SearchResponse(item_id, "similar", found.hits, (time.perf_counter() - started) * 1000, timings=timings,
                          warnings=found.warnings)
