"""Explain each hit: the query terms it matched per field, and where they sit in its title and description.

When the server fused the legs it answered fused scores only; each leg's score and rank then come
from the same two searches, asked separately (the ranking stays the server's).
"""

from __future__ import annotations

from typing import Any, Sequence

from ...index.keyword import TEXT_FIELDS
from ...text import Analyzer, surface_tokens
from ...text.highlight import highlight_spans
from ..candidates import Candidates
from ..context import SearchContext
from .page import leg_positions
from .retrieve import vector_leg


class Explain:
    name = "explain"

    def applies(self, candidates: Candidates) -> bool:
        return candidates.plan.explain and bool(candidates.hits)

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        analyzer = context.analyzer
        if candidates.server_fused:
            with context.backends.reading():
                candidates.keyword = context.backends.keyword.search(candidates.groups, candidates.plan.depth,
                                                                     candidates.allowed, candidates.alternatives)
                candidates.vector = vector_leg(candidates, context)[0]
            keyword, vector = leg_positions(candidates.keyword), leg_positions(candidates.vector)
        # The query's own words, then what was searched beside them (corrections, synonyms), word by word.
        tokens, groups = surface_tokens(candidates.text), list(candidates.groups)
        for alternative in candidates.alternatives:
            words = surface_tokens(alternative.text)
            if len(words) == len(alternative.groups):
                tokens, groups = [*tokens, *words], [*groups, *alternative.groups]
        query_terms = {term for group in groups for term in group}
        for hit, row in zip(candidates.hits, candidates.hit_rows):
            why = hit.explanation
            if candidates.server_fused:
                why.keyword_score, why.keyword_rank = keyword.get(row, (None, None))
                why.vector_score, why.vector_rank = vector.get(row, (None, None))
            why.matched_terms = matched_terms(analyzer, tokens, groups, hit.item)
            for name in ("title", "description"):
                text = str(hit.item.get(name) or "")
                # A field none of whose terms is a query term has nothing to mark: skip the word-by-word pass.
                if query_terms.isdisjoint(analyzer.term_set(text)):
                    continue
                spans = highlight_spans(text, query_terms, analyzer)
                if spans:
                    why.highlights[name] = spans
        return candidates


def matched_terms(analyzer: Analyzer, tokens: Sequence[str], groups: Sequence[tuple[str, ...]],
                  record: dict[str, Any]) -> dict[str, list[str]]:
    """field -> the query's words (as typed) found in it, by any of their variants."""
    matched = {}
    for name in TEXT_FIELDS:
        terms = analyzer.term_set(str(record.get(name) or ""))
        found = [tok for tok, group in zip(tokens, groups) if terms.intersection(group)]
        if found:
            matched[name] = list(dict.fromkeys(found))
    return matched
