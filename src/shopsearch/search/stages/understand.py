"""Understand the query: for now, its analysed words (the query-understanding stage builds on this)."""

from __future__ import annotations

from ..candidates import Candidates
from ..context import SearchContext


class Understand:
    name = "understand"

    def applies(self, candidates: Candidates) -> bool:
        return True

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        candidates.groups = context.analyzer.groups(candidates.plan.query)
        return candidates
