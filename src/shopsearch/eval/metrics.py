"""Ranking metrics over one query: pure functions of a ranked id list and graded judgments.

`ranked` is the system's result ids, best first; `judgments` maps id -> grade
(0 = irrelevant). Unjudged ids count as irrelevant, as in trec_eval; judged@k
reports how many of the top k were judged at all, so pooled judgments can be
read with care.

nDCG's gain is named: "exponential" (2^grade - 1, as Elasticsearch's rank_eval and Burges et
al.) or "linear" (the grade itself, as trec_eval and BEIR). With grades 0/1 they agree.
"""

from __future__ import annotations

import typing
from typing import Literal, Mapping, Sequence

import numpy as np

Gain = Literal["exponential", "linear"]
GAINS: tuple[str, ...] = typing.get_args(Gain)


def dcg(grades: Sequence[float], gain: Gain = "exponential") -> float:
    values = np.asarray(grades, dtype=np.float64)
    if values.size == 0:
        return 0.0
    gains = 2.0**values - 1.0 if gain == "exponential" else values
    return float(np.sum(gains / np.log2(np.arange(2, values.size + 2))))


def has_relevant(judgments: Mapping[str, float]) -> bool:
    """Whether a query can tell systems apart at all: with no relevant judgment every ranking scores 0."""
    return any(grade > 0 for grade in judgments.values())


def ndcg_at_k(ranked: Sequence[str], judgments: Mapping[str, float], k: int = 10, gain: Gain = "exponential") -> float:
    """nDCG@k; 0 when nothing is relevant (such queries belong outside the averages: has_relevant)."""
    ideal = dcg(sorted((g for g in judgments.values() if g > 0), reverse=True)[:k], gain)
    if ideal == 0:
        return 0.0
    return dcg([judgments.get(doc, 0.0) for doc in ranked[:k]], gain) / ideal


def mrr_at_k(ranked: Sequence[str], judgments: Mapping[str, float], k: int = 10) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if judgments.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def recall_at_k(ranked: Sequence[str], judgments: Mapping[str, float], k: int = 100) -> float:
    relevant = {doc for doc, grade in judgments.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def average_precision_at_k(ranked: Sequence[str], judgments: Mapping[str, float], k: int = 100) -> float:
    relevant = {doc for doc, grade in judgments.items() if grade > 0}
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), k)


def judged_at_k(ranked: Sequence[str], judgments: Mapping[str, float], k: int = 10) -> float:
    top = ranked[:k]
    return sum(doc in judgments for doc in top) / len(top) if top else 0.0
