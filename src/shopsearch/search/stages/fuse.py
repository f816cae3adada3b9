"""Fuse the legs into one ranking (RRF, min-max or z-score, weighted); one leg stands as it is."""

from __future__ import annotations

from ..candidates import Candidates
from ..context import SearchContext
from ..fusion import fuse


class Fuse:
    name = "fuse"

    def applies(self, candidates: Candidates) -> bool:
        return not candidates.server_fused

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        plan = candidates.plan
        legs = [leg for leg in (candidates.keyword, candidates.vector) if leg is not None]
        if len(legs) == 2:
            candidates.rows, candidates.scores = fuse(legs, plan.weights, plan.fusion, plan.rrf_k)
        elif legs:
            candidates.rows, candidates.scores = legs[0]
        return candidates
