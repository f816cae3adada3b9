"""The page: hits `offset` to `offset + k` of the ranking, with each leg's score and rank."""

from __future__ import annotations

from ..candidates import Candidates, Leg
from ..context import SearchContext
from ..response import Explanation, Hit


class Page:
    name = "page"

    def applies(self, candidates: Candidates) -> bool:
        return True

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        plan = candidates.plan
        rows = candidates.rows[plan.offset: plan.wanted].tolist()
        scores = candidates.scores[plan.offset: plan.wanted].tolist()
        records = context.records(candidates, rows)
        keyword, vector = leg_positions(candidates.keyword), leg_positions(candidates.vector)
        hits, hit_rows = [], []
        for row, score in zip(rows, scores):
            record = records.get(row)
            if record is None:  # deleted between the index search and this read
                continue
            why = Explanation(fused_score=float(score))
            why.keyword_score, why.keyword_rank = keyword.get(row, (None, None))
            why.vector_score, why.vector_rank = vector.get(row, (None, None))
            why.ranker_score = candidates.ranker_scores.get(row)
            why.rerank_score, why.rerank_rank = candidates.rerank_scores.get(row, (None, None))
            why.rules = list(dict.fromkeys(candidates.rule_moves.get(row, ())))
            hits.append(Hit(record["id"], float(score), record, why))
            hit_rows.append(row)
        candidates.hits, candidates.hit_rows = hits, hit_rows
        return candidates


def leg_positions(leg: Leg | None) -> dict[int, tuple[float, int]]:
    """row -> (score, rank from 1) in one leg."""
    if leg is None:
        return {}
    return {int(r): (float(s), i + 1) for i, (r, s) in enumerate(zip(leg[0].tolist(), leg[1].tolist()))}
