"""Merchandising rules (pins, boosts, hides): a pass-through until rules exist."""

from __future__ import annotations

from ..candidates import Candidates
from ..context import SearchContext


class Rules:
    name = "rules"

    def applies(self, candidates: Candidates) -> bool:
        return False  # no rule is configured anywhere yet

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        return candidates
