"""The learned ranker (LightGBM LambdaMART) reorders the head of the fused list from both legs' evidence."""

from __future__ import annotations

import numpy as np

from ..candidates import Candidates
from ..context import SearchContext
from ..ranker import FEEDBACK_DEPTH, FeatureInput, features


class Ranker:
    name = "ranker"

    def applies(self, candidates: Candidates) -> bool:
        return candidates.plan.ranker

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        if candidates.vector is None or candidates.keyword is None or context.ranker is None:
            candidates.degrade("learned ranker skipped: it needs the vector leg")
            return candidates
        head = feature_input(candidates, context, candidates.plan.ranker_depth)
        X = features(candidates.text, candidates.groups, head, context.analyzer)
        with context.ranker_lock:  # one prediction at a time on the shared booster
            scores = context.ranker.score(X)
        order = candidates.reorder_head(head.rows, scores)
        candidates.ranker_scores = dict(zip(head.rows[order].tolist(), scores[order].tolist()))
        return candidates


def feature_input(candidates: Candidates, context: SearchContext, depth: int) -> FeatureInput:
    """What the ranker's features read of the first `depth` rows of the ranking (deleted rows left out)."""
    assert candidates.keyword is not None and candidates.vector is not None and candidates.query_vector is not None
    records = context.records(candidates, candidates.rows[:depth].tolist())
    rows = np.asarray([r for r in candidates.rows[:depth].tolist() if r in records], dtype=np.int64)
    vectors = context.backends.vector
    with context.backends.reading():
        similarities = vectors.similarity(candidates.query_vector, rows)
        feedback = vectors.similarity(vectors.centroid(candidates.keyword[0][:FEEDBACK_DEPTH]), rows)
    return FeatureInput(rows, [records[r] for r in rows.tolist()], candidates.keyword, candidates.vector,
                        similarities, feedback)


def head_features(candidates: Candidates, context: SearchContext, depth: int) -> tuple[list[str], np.ndarray]:
    """(ids, feature matrix) of the first `depth` fused rows: what the learned ranker sees."""
    head = feature_input(candidates, context, depth)
    return [r["id"] for r in head.records], features(candidates.plan.query, candidates.groups, head, context.analyzer)
