"""Hybrid search with both legs on Milvus: fused on the server (one hybrid_search) against
the two legs fetched and fused by shopsearch, on the same data directory in the same run.

Run (a data directory whose catalogue is already indexed; opening it fills the Milvus
collection from the catalogue when that is empty, without calling the model):

    SHOPSEARCH_VECTOR__BACKEND=milvus SHOPSEARCH_VECTOR__URI=milvus-lite:/tmp/icecat.db \\
    SHOPSEARCH_KEYWORD__BACKEND=milvus python benchmarks/bench_milvus_fusion.py --data-dir DIR

Queries: the Icecat query set's unique queries (`--judgments`), each with no filter,
`price<=100` and `brand=HP,Lenovo`, `--passes` times after a warm-up pass. Every
configuration is RRF with equal weights (what the server fuses), k=10; query embedding is
excluded (the same vector serves each configuration), and so is nothing else.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from pathlib import Path

import numpy as np

from shopsearch import Engine
from shopsearch.config import EngineConfig
from shopsearch.models import create_embedder
from shopsearch.models.base import EmbedderBase

FILTERS = {"none": None, "price<=100": ["price<=100"], "brand=HP,Lenovo": ["brand=HP,Lenovo"]}
RRF_EQUAL = {"mode": "hybrid", "fusion": "rrf", "keyword_weight": 1.0, "vector_weight": 1.0, "k": 10}


class CachedEmbedder(EmbedderBase):
    """The engine's embedder, answering repeated queries from memory: the timings are search only."""

    def __init__(self, inner) -> None:
        self._inner, self._seen = inner, {}
        self.name, self.dim = inner.name, inner.dim

    def embed_queries(self, texts, dimensions=None):
        missing = [t for t in texts if t not in self._seen]
        if missing:
            self._seen.update(zip(missing, self._inner.embed_queries(missing)))
        return np.stack([self._seen[t] for t in texts])

    def __getattr__(self, name):
        return getattr(self._inner, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--judgments", type=Path, default=Path("../shared/datasets/icecat/Broad_Query_Set_rated.csv"))
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    with open(args.judgments, newline="") as f:
        queries = list(dict.fromkeys(row["query"] for row in csv.DictReader(f)))
    config = EngineConfig.from_env()
    embedder = CachedEmbedder(create_embedder(config.model))
    first = Engine.open(args.data_dir, config=config, read_only=True, embedder=embedder)
    if first._backends.server_fusion is None:
        raise SystemExit("both legs must be on one Milvus collection: SHOPSEARCH_VECTOR__BACKEND=milvus, "
                         "SHOPSEARCH_VECTOR__URI=..., SHOPSEARCH_KEYWORD__BACKEND=milvus")
    print(f"{len(first):,} products", end=", ")
    first.close()
    local = dataclasses.replace(config, search=dataclasses.replace(config.search, server_fusion=False))
    setups = {  # name: (engine configuration, explain)
        "fused here (2 searches)": (local, False),
        "fused on the server (1 hybrid_search)": (config, False),
        "fused here, explained": (local, True),
        "fused on the server, explained (+2 searches)": (config, True),
    }
    print(f"{len(queries)} queries x "
          f"{len(FILTERS)} filters x {args.passes} passes, k=10, RRF equal weights, embedding excluded")
    results = {}
    for name, (setup, explain) in setups.items():
        engine = Engine.open(args.data_dir, config=setup, read_only=True, embedder=embedder)
        for query in queries:  # warm-up: embeddings cached, collection loaded
            engine.search(query, explain=explain, **RRF_EQUAL)
        times, agree = [], []
        for _ in range(args.passes):
            for query in queries:
                for filters in FILTERS.values():
                    t0 = time.perf_counter()
                    response = engine.search(query, filters=filters, explain=explain, **RRF_EQUAL)
                    times.append((time.perf_counter() - t0) * 1000 - response.timings.get("embed_ms", 0.0))
                    agree.append([h.id for h in response.hits])
        results[name] = (np.asarray(times), agree)
        engine.close()
    baseline = np.percentile(results["fused here (2 searches)"][0], 50)
    reference = results["fused here (2 searches)"][1]
    print(f"{'configuration':46} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs here':>12} {'top-10 overlap':>15}")
    for name, (times, answers) in results.items():
        overlap = np.mean([len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(answers, reference)])
        p50, p99 = np.percentile(times, [50, 99])
        print(f"{name:46} {p50:8.2f} {p99:8.2f} {baseline / p50:11.2f}x {overlap:15.3f}")


if __name__ == "__main__":
    main()
