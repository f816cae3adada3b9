#!/usr/bin/env python
"""Vector-index libraries side by side on this CPU: hnswlib, faiss (HNSW) and usearch (HNSW),
each with and without a filter, at the sizes asked for (default 100k and 1M).

    python benchmarks/bench_ann.py                       # 100k and 1M (~30 min on 2 cores)
    python benchmarks/bench_ann.py --sizes 100k --queries 200
    python benchmarks/bench_ann.py --centres icecat_vectors.npy   # real item vectors as cluster centres

What a search leg of shopsearch asks: the top `--depth` rows (100: the hybrid leg's depth) of one
query at a time, in one thread, under a row mask (the filter). Per library and filter: p50/p99
latency, recall@10 against an exact scan of the allowed rows, build time, and the bytes per item
the index holds (RSS growth while building, and the library's own figure where it has one).

The vectors are clustered the way a catalogue's are: each item is a cluster centre (an icecat
item's real vector with --centres, else a random direction around a shared mean, as embeddings
sit in a cone) plus Gaussian noise. The filters: "price" keeps a random 30% of rows (not related
to the vectors), "brand" the items of 14% of the centres (related: a brand's items sit together),
"rare" 1% of rows. Queries are other noisy copies of centres.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import avx2_only_if_asked, cpu_flags, log, print_table, simd_note  # noqa: E402

AVX2_ONLY = avx2_only_if_asked()  # before numpy loads

import numpy as np  # noqa: E402

M, EF_CONSTRUCTION, EF_SEARCH = 16, 200, 192  # shopsearch's VectorConfig defaults


def rss_anon() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def clustered(n: int, dim: int, centres: np.ndarray | None, rng: np.random.Generator, noise: float):
    """n unit vectors around centres, and which centre each came from."""
    if centres is None:
        mean = rng.standard_normal(dim).astype(np.float32)
        centres = mean / np.linalg.norm(mean) * 0.8 + rng.standard_normal((20_000, dim)).astype(np.float32) / np.sqrt(dim) * 0.6
    centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    origin = rng.integers(0, len(centres), n)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks: one 1M x 384 noise array would double the peak
        part = origin[start:start + 100_000]
        block = centres[part] + rng.standard_normal((len(part), dim)).astype(np.float32) * noise
        out[start:start + len(part)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out, origin, centres


def masks(n: int, origin: np.ndarray, n_centres: int, rng: np.random.Generator) -> dict[str, np.ndarray | None]:
    brand_of_centre = rng.random(n_centres) < 0.14
    return {"none": None, "price": rng.random(n) < 0.30, "brand": brand_of_centre[origin], "rare": rng.random(n) < 0.01}


def exact_top(vectors: np.ndarray, query: np.ndarray, mask: np.ndarray | None, k: int) -> np.ndarray:
    scores = vectors @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


# -- the libraries: build(vectors) -> search(query, depth, mask) -> rows -----------------------
def build_hnswlib(vectors: np.ndarray, threads: int):
    import hnswlib

    index = hnswlib.Index(space="ip", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), M=M, ef_construction=EF_CONSTRUCTION)
    index.set_num_threads(threads)
    index.add_items(vectors, np.arange(len(vectors)))
    index.set_num_threads(1)
    index.set_ef(EF_SEARCH)

    def search(query: np.ndarray, depth: int, mask: np.ndarray | None) -> np.ndarray:
        flt = None if mask is None else (lambda label: bool(mask[label]))
        try:
            return index.knn_query(query, k=depth, filter=flt)[0][0]
        except RuntimeError:  # fewer than depth allowed rows found
            return np.zeros(0, dtype=np.int64)

    return search, {"library": f"hnswlib {getattr(hnswlib, '__version__', '')}".strip(), "keep": index}


def build_faiss(vectors: np.ndarray, threads: int, kind: str = "flat"):
    import faiss

    faiss.omp_set_num_threads(threads)
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, M, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[:min(len(vectors), 100_000)])
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(vectors)
    faiss.omp_set_num_threads(1)

    def search(query: np.ndarray, depth: int, mask: np.ndarray | None) -> np.ndarray:
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(EF_SEARCH, depth)
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        _, labels = index.search(query.reshape(1, -1), depth, params=params)
        return labels[0][labels[0] >= 0]

    return search, {"library": f"faiss {faiss.__version__} HNSW{'Flat' if kind == 'flat' else 'SQ8'}",
                    "keep": index, "simd": faiss.get_compile_options().strip()}


def build_usearch(vectors: np.ndarray, threads: int, dtype: str = "f32"):
    import usearch
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="ip", dtype=dtype, connectivity=M,
                  expansion_add=EF_CONSTRUCTION, expansion_search=EF_SEARCH)
    index.add(np.arange(len(vectors)), vectors, threads=threads)

    def search(query: np.ndarray, depth: int, mask: np.ndarray | None) -> np.ndarray:
        if mask is None:
            return index.search(query, depth, threads=1).keys
        # usearch's Python API takes no filter: over-fetch by the mask's share, keep the allowed.
        share = max(float(mask.mean()), 1e-4)
        want = min(len(mask), int(depth / share * 1.5) + depth)
        keys = index.search(query, want, threads=1).keys
        return keys[mask[keys]][:depth]

    return search, {"library": f"usearch {usearch.__version__} {dtype}", "keep": index,
                    "simd": getattr(index, "hardware_acceleration", "")}


LIBRARIES: dict[str, Callable] = {
    "hnswlib": build_hnswlib,
    "faiss": build_faiss,
    "faiss-sq8": lambda v, t: build_faiss(v, t, "sq8"),
    "usearch": build_usearch,
    "usearch-f16": lambda v, t: build_usearch(v, t, "f16"),
    "usearch-i8": lambda v, t: build_usearch(v, t, "i8"),
}


def measure(name: str, vectors: np.ndarray, queries: np.ndarray, filters: dict, truth: dict, depth: int,
            threads: int) -> list[dict]:
    gc.collect()
    before = rss_anon()
    started = time.perf_counter()
    search, info = LIBRARIES[name](vectors, threads)
    build_s = time.perf_counter() - started
    gc.collect()
    grown = rss_anon() - before
    rows = []
    for fname, mask in filters.items():
        for q in queries[:10]:  # warm
            search(q, depth, mask)
        lat, found = [], 0
        for q, exact in zip(queries, truth[fname]):
            t0 = time.perf_counter()
            got = search(q, depth, mask)
            lat.append((time.perf_counter() - t0) * 1000)
            found += len(set(got[:10].tolist()) & set(exact[:10].tolist()))
        rows.append({"library": info["library"], "filter": fname, "p50_ms": float(np.percentile(lat, 50)),
                     "p99_ms": float(np.percentile(lat, 99)), "recall@10": found / (10 * len(queries)),
                     "build_s": build_s, "bytes_per_item": grown / len(vectors),
                     "simd": str(info.get("simd", ""))[:40]})
    del info, search
    gc.collect()
    return rows


def calibrate_planner(vectors: np.ndarray, queries: np.ndarray, backend: str, depth: int) -> tuple[list[list], float]:
    """The exact-scan-or-graph constant for this CPU, for one of shopsearch's backends: at filter shares
    from 0.5% to 50%, the time of the exact scan and of the filtered graph walk; where they cross gives
    exact_scan_ratio = n*n/N at the crossing (the planner scans exactly when n*n <= ratio*N)."""
    import tempfile

    from shopsearch.config import VectorConfig
    from shopsearch.index.vector_faiss import FaissVectorIndex
    from shopsearch.index.vector_hnsw import HnswVectorIndex

    cls = {"faiss": FaissVectorIndex, "hnsw": HnswVectorIndex}[backend]
    n = len(vectors)
    with tempfile.TemporaryDirectory() as tmp:
        index = cls(Path(tmp), vectors.shape[1], VectorConfig(exact_scan_ratio=0.0))
        for start in range(0, n, 50_000):
            index.apply(1, np.arange(start, min(n, start + 50_000)), vectors[start:start + 50_000], [])
        rng = np.random.default_rng(3)
        rows, crossing = [], float("nan")
        previous = None
        for share in (0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5):
            mask = rng.random(n) < share
            times = {}
            for plan, exact in (("exact", True), ("graph", False)):
                for q in queries[:5]:
                    index.search(q, depth, mask, exact=exact)
                started = time.perf_counter()
                for q in queries[:60]:
                    index.search(q, depth, mask, exact=exact)
                times[plan] = (time.perf_counter() - started) * 1000 / 60
            allowed = int(mask.sum())
            rows.append([backend, f"{n:,}", f"{share:.3f}", allowed, times["exact"], times["graph"]])
            graph_wins = times["graph"] < times["exact"]
            if previous is not None and graph_wins and not previous[1] and crossing != crossing:
                # Interpolate in log(n) between the last share the scan won and this one.
                crossing = float(np.sqrt(previous[0] * allowed)) ** 2 / n
            previous = (allowed, graph_wins)
    return rows, crossing


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100k,1m")
    ap.add_argument("--libraries", default="hnswlib,faiss,faiss-sq8,usearch,usearch-f16,usearch-i8")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--noise", type=float, default=0.015, help="per-dimension sigma, as bench_search.py")
    ap.add_argument("--centres", type=Path, help="an .npy of real item vectors to cluster around")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="build threads")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--simd", choices=("native", "avx2"), default="native",
                    help="avx2: faiss and OpenBLAS as on an AVX2-only CPU (hnswlib, usearch keep this CPU's)")
    ap.add_argument("--calibrate", default="faiss,hnsw",
                    help="shopsearch backends whose planner constant to derive at each size (empty: none)")
    args = ap.parse_args(argv)
    log(f"CPU flags: {cpu_flags()}; {simd_note()}")
    centres = np.load(args.centres).astype(np.float32) if args.centres else None
    dim = centres.shape[1] if centres is not None else args.dim
    all_rows = []
    for size in args.sizes.split(","):
        n = int(float(size.lower().replace("k", "e3").replace("m", "e6")))
        rng = np.random.default_rng(args.seed)
        vectors, origin, used_centres = clustered(n, dim, centres, rng, args.noise)
        queries, _, _ = clustered(args.queries, dim, used_centres, rng, args.noise)
        filters = masks(n, origin, len(used_centres), rng)
        truth = {f: [exact_top(vectors, q, m, 10) for q in queries] for f, m in filters.items()}
        for backend in [b for b in args.calibrate.split(",") if b]:
            log(f"{size}: calibrating the {backend} backend's planner")
            rows, ratio = calibrate_planner(vectors, queries, backend, args.depth)
            print_table(f"planner: exact scan vs filtered graph walk, ms per search ({cpu_flags()})",
                        ["backend", "items", "share", "allowed rows", "exact ms", "graph ms"], rows)
            print(f"  {backend} at {size}: exact_scan_ratio for this CPU ~ {ratio:,.0f} (the scan wins below "
                  f"n = {np.sqrt(ratio * n) if ratio == ratio else float('nan'):,.0f} allowed rows)")
        for name in [lib for lib in args.libraries.split(",") if lib]:
            log(f"{size}: {name}")
            rows = measure(name, vectors, queries, filters, truth, args.depth, args.threads)
            for row in rows:
                row["size"] = size
            all_rows.extend(rows)
        del vectors
        gc.collect()
    columns = ["size", "library", "filter", "p50_ms", "p99_ms", "recall@10", "build_s", "bytes_per_item", "simd"]
    print_table(f"vector index libraries, one query at a time, depth {args.depth} ({cpu_flags()}; {simd_note()})", columns,
                [[row[c] for c in columns] for row in all_rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
