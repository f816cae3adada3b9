"""Boost: raise the fused scores of the products that match what the query named (a brand, a
category, a colour), then order the list again. A boost is a fraction of the fused scores'
spread, so it means the same under RRF, min-max or z-score fusion: enough to lift a matching
product over close competitors, not over a much better match.
"""

from __future__ import annotations

import numpy as np

from ..candidates import Candidates, rows_in
from ..context import SearchContext


class Boost:
    name = "boost"

    def applies(self, candidates: Candidates) -> bool:
        return bool(candidates.boosts) and len(candidates.rows) > 1

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        rows, scores = candidates.rows, candidates.scores.astype(np.float64)
        spread = float(scores.max() - scores.min()) or 1.0
        raised = np.zeros(len(rows))
        for mask, weight in candidates.boosts:
            raised += rows_in(mask, rows) * weight * spread
        if raised.any():
            scores = scores + raised
            order = np.argsort(-scores, kind="stable")
            candidates.rows, candidates.scores = rows[order], scores[order]
        return candidates
