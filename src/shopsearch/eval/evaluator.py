"""Run judged queries through the engine under one or more configurations."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .judgments import Judgments
from .metrics import Gain, average_precision_at_k, has_relevant, judged_at_k, mrr_at_k, ndcg_at_k, recall_at_k

METRICS = ("ndcg@10", "mrr@10", "recall@100", "map@100", "judged@10")
DEPTH = 100  # results fetched per query: enough for recall@100 and map@100

# Search parameters a sweep may vary, with how to read their values.
SWEEPABLE: dict[str, Callable[[str], Any]] = {
    "mode": str,
    "fusion": str,
    "rrf_k": float,
    "keyword_weight": float,
    "vector_weight": float,
    "candidates": int,
}


def query_metrics(ranked: Sequence[str], judged: Mapping[str, float], gain: Gain = "exponential") -> dict[str, float]:
    return {
        "ndcg@10": ndcg_at_k(ranked, judged, 10, gain),
        "mrr@10": mrr_at_k(ranked, judged, 10),
        "recall@100": recall_at_k(ranked, judged, 100),
        "map@100": average_precision_at_k(ranked, judged, 100),
        "judged@10": judged_at_k(ranked, judged, 10),
    }


@dataclass
class EvalRun:
    name: str
    params: dict[str, Any]
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)  # the informative queries only
    gain: Gain = "exponential"
    uninformative: int = 0  # judged queries with no relevant judgment: left out of every average

    def summary(self) -> dict[str, float | int | str]:
        """Exactly: queries (informative, averaged over), uninformative_queries (left out), gain (of nDCG),
        then ndcg@10, mrr@10, recall@100, map@100, judged@10 (means over the informative queries).

        A query with no relevant judgment scores 0 for every system; averaging it in only pulls every
        figure down (as pyserini and BEIR, it is left out and counted)."""
        return {"queries": len(self.per_query), "uninformative_queries": self.uninformative, "gain": self.gain,
                **self.means()}

    def means(self) -> dict[str, float]:
        """Each metric's mean over the informative queries."""
        values = np.array([[m[name] for name in METRICS] for m in self.per_query.values()]) if self.per_query else None
        means = values.mean(axis=0) if values is not None else [0.0] * len(METRICS)
        return {name: float(v) for name, v in zip(METRICS, means)}


def evaluate(engine, judgments: Judgments, params: Mapping[str, Any], name: str | None = None,
             on_query: Callable[[], None] | None = None, gain: Gain = "exponential") -> EvalRun:
    run = EvalRun(name or describe(params), dict(params), gain=gain)
    for query, judged in judgments.items():
        if has_relevant(judged):
            ranked = [hit.id for hit in engine.search(query, k=DEPTH, **params).hits]
            run.per_query[query] = query_metrics(ranked, judged, gain)
        else:
            run.uninformative += 1
        if on_query:
            on_query()
    return run


def describe(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "default"


def parse_sweeps(specs: Sequence[str], base: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """`KEY=V1,V2` specs into the cartesian product of their values, over `base`."""
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip()
        if not sep or not raw.strip():
            raise ValueError(f"--sweep {spec!r}: expected KEY=V1,V2,...")
        if key == "dims":
            raise ValueError(
                "--sweep dims: the configured model has fixed-size vectors; Matryoshka dimensions "
                "need a Matryoshka-trained model such as Qwen3-Embedding"
            )
        if key not in SWEEPABLE:
            raise ValueError(f"--sweep {spec!r}: {key!r} is not one of {', '.join(SWEEPABLE)}")
        try:
            axes[key] = [SWEEPABLE[key](v.strip()) for v in raw.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--sweep {spec!r}: a value is not a valid {SWEEPABLE[key].__name__}") from None
    base = dict(base or {})
    if not axes:
        return [base]
    return [{**base, **dict(zip(axes, combo))} for combo in itertools.product(*axes.values())]


def wins_and_losses(run: EvalRun, baseline: EvalRun, metric: str = "ndcg@10", margin: float = 0.01):
    """Per-query differences against the baseline, largest first: (wins, losses)."""
    deltas = [(q, m[metric] - baseline.per_query[q][metric]) for q, m in run.per_query.items() if q in baseline.per_query]
    wins = sorted((d for d in deltas if d[1] > margin), key=lambda d: -d[1])
    losses = sorted((d for d in deltas if d[1] < -margin), key=lambda d: d[1])
    return wins, losses
