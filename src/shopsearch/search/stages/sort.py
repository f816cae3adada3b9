"""Sort: order the relevant candidates by a field (price, a date, any number), never the whole
catalogue: the best `sort_depth` results, cheapest (or newest) first, ties in relevance order,
products without the field last. Each hit keeps its relevance score.
"""

from __future__ import annotations

import numpy as np

from ..candidates import Candidates
from ..context import SearchContext


class Sort:
    name = "sort"

    def applies(self, candidates: Candidates) -> bool:
        return candidates.plan.sort_key is not None

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        key = candidates.plan.sort_key
        assert key is not None  # applies() checked
        name, descending = key
        head = candidates.rows[: candidates.plan.sort_depth]
        values = context.backends.columns.sort_values(name, head)
        values = -values if descending else values
        values[np.isnan(values)] = np.inf  # missing sorts last, in either direction
        order = np.lexsort((np.arange(len(head)), values))
        candidates.rows, candidates.scores = head[order], candidates.scores[: len(head)][order]
        return candidates
