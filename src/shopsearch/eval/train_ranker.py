"""Training the learned ranker from judgments, with cross-validation by query."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..search.ranker import LearnedRanker, query_folds
from .evaluator import EvalRun, evaluate, query_metrics
from .judgments import Judgments
from .metrics import has_relevant


def train_ranker(engine, judgments: Judgments, folds: int = 5, seed: int = 0,
                 on_step: Callable[[], None] | None = None) -> tuple[LearnedRanker, dict[str, EvalRun]]:
    """Fit on all queries; return the model and the cross-validated comparison
    (ranker vs the engine's hybrid fusion vs keyword, each on held-out queries only)."""
    data = {}
    for query in judgments:
        ids, X = engine.ranking_features(query)
        data[query] = (ids, X, np.asarray([judgments[query].get(i, 0.0) for i in ids], dtype=np.int32))
        if on_step:
            on_step()
    # Queries with no relevant judgment teach a ranker nothing and score 0 for every system.
    queries = [q for q in judgments if len(data[q][0]) and has_relevant(judgments[q])]
    ranked = EvalRun("learned ranker (cross-validated)", {"mode": "hybrid", "ranker": True})
    for held_out in query_folds(queries, folds, seed):
        held = set(held_out)
        train = [q for q in queries if q not in held]
        model = LearnedRanker.fit([data[q][1] for q in train], [data[q][2] for q in train], seed)
        for query in held_out:
            ids, X, _ = data[query]
            order = np.argsort(-model.score(X), kind="stable")
            ranked.per_query[query] = query_metrics([ids[i] for i in order], judgments[query])
        if on_step:
            on_step()
    scored = {q: judgments[q] for q in queries}
    runs = {
        "keyword": evaluate(engine, scored, {"mode": "keyword"}, "keyword"),
        "hybrid": evaluate(engine, scored, {"mode": "hybrid", "ranker": False}, "hybrid (fusion)"),
        "ranker": ranked,
    }
    final = LearnedRanker.fit([data[q][1] for q in queries], [data[q][2] for q in queries], seed)
    final.meta["cv"] = {name: run.summary() for name, run in runs.items()}
    final.meta["folds"] = folds
    return final, runs
