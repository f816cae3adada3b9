"""A learned second stage: LightGBM LambdaMART over the candidates of both legs.

Features describe one (query, product) pair from what retrieval already
knows: each leg's score and rank, cosine similarity, how much of the query
each field covers, and the shape of the query. The model is trained from
judgments the user supplies (`shopsearch train-ranker`), cross-validated by
query (no query is both trained on and tested), and saved in the data
directory, where search picks it up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..models import ModelUnavailable
from ..text import Analyzer

FEATURES = (
    "keyword_score",
    "keyword_score_ratio",  # to the query's best keyword score
    "keyword_reciprocal_rank",
    "vector_similarity",
    "vector_reciprocal_rank",
    "title_coverage",  # share of query words found in the field
    "brand_coverage",
    "description_coverage",
    "category_coverage",
    "query_words",
    "query_has_digits",
    "title_words",
    "last_word_in_title",  # in "camera bag" the last word names the product type
    "phrase_in_title",  # the query's words appear in the title contiguously, in order
    "first_title_match",  # how early in the title the first query word appears (1 = first word)
    # Dense pseudo-relevance feedback: 1 / rank by similarity to the centroid of
    # the top keyword hits' vectors, i.e. "looks like what the words found".
    # Measured on Icecat (cross-validated): +0.011 nDCG@10, where the query's
    # own vector adds little because the default model is weak on short queries.
    "feedback_reciprocal_rank",
)
FEEDBACK_DEPTH = 10  # keyword hits whose vectors form the feedback centroid
MODEL_FILE = "ranker.txt"
META_FILE = "ranker.json"


def _lightgbm():
    try:
        import lightgbm
    except ImportError as exc:
        raise ModelUnavailable("the learned ranker needs LightGBM: pip install 'shopsearch[ltr]'") from exc
    return lightgbm


def require_lightgbm() -> None:
    """ModelUnavailable (with the install line) when LightGBM is missing: checked before work that ends needing it."""
    _lightgbm()


@dataclass
class FeatureInput:
    """Everything retrieval knows about one query's candidates, row-aligned."""

    rows: np.ndarray
    records: list[dict[str, Any]]
    keyword: tuple[np.ndarray, np.ndarray]
    vector: tuple[np.ndarray, np.ndarray]
    similarities: np.ndarray  # cosine to the query for every candidate, found by either leg
    feedback_similarities: np.ndarray  # cosine to the centroid of the top keyword hits


def features(query: str, groups: Sequence[tuple[str, ...]], cands: FeatureInput, analyzer: Analyzer) -> np.ndarray:
    n = len(cands.rows)
    X = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if n == 0:
        return X
    position = {int(r): i for i, r in enumerate(cands.rows)}
    kw_rows, kw_scores = cands.keyword
    for rank, (row, score) in enumerate(zip(kw_rows.tolist(), kw_scores.tolist()), start=1):
        if row in position:  # the legs reach deeper than the candidates the ranker reorders
            X[position[row], 0], X[position[row], 2] = score, 1.0 / rank
    best = float(kw_scores.max()) if len(kw_scores) else 0.0
    X[:, 1] = X[:, 0] / best if best > 0 else 0.0
    for rank, row in enumerate(cands.vector[0].tolist(), start=1):
        if row in position:
            X[position[row], 4] = 1.0 / rank
    X[:, 3] = cands.similarities
    feedback_rank = np.empty(n)
    feedback_rank[np.argsort(-cands.feedback_similarities, kind="stable")] = np.arange(1, n + 1)
    X[:, 15] = 1.0 / feedback_rank
    X[:, 9] = len(groups)
    X[:, 10] = float(any(ch.isdigit() for ch in query))
    if not groups:
        return X
    query_terms = [set(g) for g in groups]
    for i, record in enumerate(cands.records):
        for column, field in ((5, "title"), (6, "brand"), (7, "description"), (8, "category")):
            terms = analyzer.term_set(str(record.get(field) or ""))
            X[i, column] = sum(1 for g in groups if terms.intersection(g)) / len(groups)
        title = str(record.get("title") or "")
        X[i, 11] = len(analyzer.term_set(title))
        title_groups = analyzer.groups(title)
        X[i, 12] = float(any(query_terms[-1].intersection(g) for g in title_groups))
        X[i, 13] = float(_contains_in_order(title_groups, query_terms))
        hits = [j for j, g in enumerate(title_groups) if any(q.intersection(g) for q in query_terms)]
        X[i, 14] = 1.0 / (1 + hits[0]) if hits else 0.0
    return X


def _contains_in_order(title_groups, query_terms) -> bool:
    n = len(query_terms)
    for start in range(len(title_groups) - n + 1):
        if all(query_terms[j].intersection(title_groups[start + j]) for j in range(n)):
            return True
    return False


class LearnedRanker:
    def __init__(self, booster, meta: Mapping[str, Any]) -> None:
        self._booster = booster
        self.meta = dict(meta)

    @classmethod
    def load(cls, data_dir: Path) -> "LearnedRanker | None":
        model, meta = Path(data_dir) / MODEL_FILE, Path(data_dir) / META_FILE
        if not model.exists():
            return None
        meta = json.loads(meta.read_text()) if meta.exists() else {}
        if tuple(meta.get("features", ())) != FEATURES:
            raise ValueError(f"{model} was trained on other features; retrain it with `shopsearch train-ranker`")
        return cls(_lightgbm().Booster(model_file=str(model)), meta)

    @classmethod
    def fit(cls, X: Sequence[np.ndarray], y: Sequence[np.ndarray], seed: int = 0) -> "LearnedRanker":
        lgb = _lightgbm()
        data = lgb.Dataset(np.concatenate(X), np.concatenate(y), group=[len(x) for x in X],
                           feature_name=list(FEATURES), free_raw_data=False)
        # Shallow trees, many rounds: judgments come by the hundred queries, and
        # deeper trees fitted the training queries better and held-out ones worse
        # (Icecat, 5-fold CV over 3 seeds: 3 leaves 0.656, 15 leaves 0.651).
        params = {
            "objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [10], "learning_rate": 0.03,
            "num_leaves": 3, "min_data_in_leaf": 50, "feature_fraction": 0.9, "bagging_fraction": 0.8,
            "bagging_freq": 1, "lambda_l2": 1.0, "seed": seed, "verbose": -1,
            # One thread: training may run inside a serving process (POST /v1/ranker/train), beside its
            # searches, and at these sizes threads cost more than they save (2 cores, 4,000 rows: 0.3 s
            # a fit on one thread, 0.5 to 1.5 s on two; the models are the same).
            "num_threads": 1,
            # Grades 0..3 gain 2^g - 1, as in nDCG.
            "label_gain": [float(2**g - 1) for g in range(32)],
        }
        booster = lgb.train(params, data, num_boost_round=300)
        return cls(booster, {"features": list(FEATURES)})

    def score(self, X: np.ndarray) -> np.ndarray:
        return self._booster.predict(X, num_threads=1) if len(X) else np.zeros(0)

    def save(self, data_dir: Path, extra: Mapping[str, Any] | None = None) -> None:
        data_dir = Path(data_dir)
        tmp = data_dir / (MODEL_FILE + ".tmp")
        self._booster.save_model(str(tmp))
        tmp.replace(data_dir / MODEL_FILE)
        self.meta.update(extra or {})
        (data_dir / META_FILE).write_text(json.dumps(self.meta, indent=1))


def query_folds(queries: Sequence[str], folds: int, seed: int = 0) -> list[list[str]]:
    """Queries split into `folds` disjoint groups, deterministically."""
    if folds < 2 or folds > len(queries):
        raise ValueError(f"need 2 <= folds <= number of queries ({len(queries)}), got {folds}")
    order = np.random.default_rng(seed).permutation(len(queries))
    return [[queries[i] for i in part] for part in np.array_split(order, folds)]
