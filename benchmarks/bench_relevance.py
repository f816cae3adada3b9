"""Relevance on the Icecat judged query set: shopsearch modes vs a Lucene-parameter BM25 reference.

Run: python benchmarks/bench_relevance.py [--icecat-dir ../shared/datasets/icecat] [--data-dir DIR]

The reference is bm25s (method "lucene", k1=1.2, b=0.75, English Snowball
stemming) over title + brand + name + short description concatenated, the
baseline the dataset README quotes (nDCG@10 about 0.74).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from shopsearch import Engine
from shopsearch.eval.metrics import judged_at_k, mrr_at_k, ndcg_at_k, recall_at_k
from shopsearch.index.ingest import BadRecord, FieldMapping, read_items

ICECAT_MAP = ["brand=supplier", "description=name,short_description"]


def load_judgments(path: Path) -> dict[str, dict[str, float]]:
    judgments: dict[str, dict[str, float]] = defaultdict(dict)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            judgments[row["query"]][row["docid"]] = float(row["rating"])
    return dict(judgments)


def evaluate(run: dict[str, list[str]], judgments) -> dict[str, float]:
    rows = [
        (ndcg_at_k(run[q], j, 10), mrr_at_k(run[q], j, 10), recall_at_k(run[q], j, 100), judged_at_k(run[q], j, 10))
        for q, j in judgments.items()
    ]
    return dict(zip(("ndcg@10", "mrr@10", "recall@100", "judged@10"), np.mean(rows, axis=0)))


def bm25_reference(items, queries) -> dict[str, list[str]]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    corpus = [" ".join([it.title, it.brand, it.description]) for it in items]
    retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    retriever.index(bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    ids = [it.id for it in items]
    run = {}
    for q in queries:
        docs, _ = retriever.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False), k=100, show_progress=False)
        run[q] = [ids[i] for i in docs[0]]
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--icecat-dir", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "icecat")
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse an index built from the same files")
    args = parser.parse_args()
    paths = sorted(args.icecat_dir.glob("*.json.zip"))
    judgments = load_judgments(args.icecat_dir / "Broad_Query_Set_rated.csv")
    items = [it for _, it in read_items(paths, FieldMapping.parse(ICECAT_MAP, 0.01)) if not isinstance(it, BadRecord)]
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="shopsearch-relevance-"))
    engine = Engine.open(data_dir)
    if len(engine) != len(items):
        t0 = time.perf_counter()
        for i in range(0, len(items), 500):
            engine.upsert(items[i : i + 500])
        print(f"indexed {len(items)} items in {time.perf_counter() - t0:.1f}s")

    results = {}
    try:
        results["bm25 reference (bm25s, lucene)"] = evaluate(bm25_reference(items, judgments), judgments)
    except ImportError:
        print("bm25s not installed: pip install bm25s (reference row skipped)")
    for mode in ("keyword", "vector", "hybrid"):
        run = {q: [h.id for h in engine.search(q, mode=mode, k=100).hits] for q in judgments}
        results[mode] = evaluate(run, judgments)
    engine.close()

    print(f"\nIcecat judged queries: {len(judgments)}, products: {len(items)}")
    print(f"{'configuration':34} {'nDCG@10':>8} {'MRR@10':>8} {'R@100':>8} {'judged@10':>10}")
    for name, m in results.items():
        print(f"{name:34} {m['ndcg@10']:8.4f} {m['mrr@10']:8.4f} {m['recall@100']:8.4f} {m['judged@10']:10.3f}")
    ref = results.get("bm25 reference (bm25s, lucene)")
    if ref:
        ratio = results["keyword"]["ndcg@10"] / ref["ndcg@10"]
        print(f"\nkeyword / reference nDCG@10 = {ratio:.3f} (goal: >= 0.98)")
    print(f"hybrid - keyword nDCG@10 = {results['hybrid']['ndcg@10'] - results['keyword']['ndcg@10']:+.4f} (goal: >= 0)")


if __name__ == "__main__":
    main()
