"""Chinese analysis and the default model on Chinese: QBQTC dev reranking.

Run: python benchmarks/bench_chinese.py [--qbqtc ../shared/datasets/qbqtc/dev.json]

QBQTC (QQ Browser query-title relevance, labels 0/1/2) judges about one
title per query; the queries that have two or more titles with different
labels are kept. All their titles go into one index (so BM25 statistics
come from a real corpus), and each query reranks only its own judged titles:
a filter on the title ids, through the same search pipeline as any query.
Reported: nDCG@10 of keyword, vector and hybrid, against a random order, each with query
understanding on (the default) and off: the Chinese price wording, typo and entity steps must
not hurt Chinese queries.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from shopsearch import Engine
from shopsearch.eval.metrics import ndcg_at_k

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "qbqtc" / "dev.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qbqtc", type=Path, default=DEFAULT)
    args = parser.parse_args()
    by_query: dict[str, dict[str, float]] = defaultdict(dict)
    titles: dict[str, str] = {}
    with open(args.qbqtc, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            doc_id = f"t{len(titles)}"
            titles[doc_id] = row["title"]
            by_query[row["query"]][doc_id] = float(row["label"])
    kept = {q: d for q, d in by_query.items() if len(d) >= 2 and len(set(d.values())) >= 2}
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.open(tmp)
        t0 = time.perf_counter()
        items = [{"id": i, "title": t} for i, t in titles.items()]
        for start in range(0, len(items), 1000):
            engine.upsert(items[start : start + 1000])
        print(f"indexed {len(items)} titles in {time.perf_counter() - t0:.1f}s; "
              f"{len(kept)} queries with 2+ differently-labelled titles")
        rng = random.Random(0)
        scores = defaultdict(list)
        for query, judged in kept.items():
            ids = list(judged)
            shuffled = rng.sample(ids, len(ids))
            for mode in ("keyword", "vector", "hybrid"):
                for understand in (True, False):
                    hits = [h.id for h in engine.search(query, mode=mode, k=len(ids), filters={"id": ids},
                                                        understand=understand).hits]
                    # Titles a leg did not match at all keep their (random) order after the matched ones.
                    rest = [i for i in shuffled if i not in set(hits)]
                    scores[mode if understand else f"{mode}, understanding off"].append(ndcg_at_k(hits + rest, judged))
            scores["random"].append(ndcg_at_k(rng.sample(ids, len(ids)), judged))
        engine.close()
    print(f"{'mode':28} {'nDCG@10':>8}")
    for mode in scores:
        print(f"{mode:28} {np.mean(scores[mode]):8.4f}")


if __name__ == "__main__":
    main()
