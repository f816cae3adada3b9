"""Facet counts (brands, categories, price bands) over the ranked candidates, as a shop's sidebar shows them."""

from __future__ import annotations

from ..candidates import Candidates
from ..context import SearchContext
from ..facets import facet_counts


class Facets:
    name = "facets"

    def applies(self, candidates: Candidates) -> bool:
        return candidates.plan.facets

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        counted = candidates.rows[: candidates.plan.depth].tolist()
        candidates.facets = facet_counts(context.records(candidates, counted).values())
        return candidates
