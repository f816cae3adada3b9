#!/usr/bin/env python
"""shopsearch benchmark: indexing throughput, query latency, memory and disk per item,
and hybrid latency against LanceDB and milvus-lite on the same data.

    python benchmarks/bench_search.py            # full run (~10-15 min on 2 cores)
    python benchmarks/bench_search.py --quick    # smoke run (~1-2 min)
    python benchmarks/bench_search.py --out results.json

See benchmarks/README.md for what every column means.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import gc
import io
import json
import os
import platform
import pstats
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

# Quieten LanceDB's Rust-side deprecation warnings (one line per query otherwise).
os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("RUST_LOG", "error")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import avx2_only_if_asked, cpu_flags, log, print_table, simd_note  # noqa: E402

AVX2_ONLY = avx2_only_if_asked()  # before numpy loads

import numpy as np  # noqa: E402

from shopsearch.config import EngineConfig  # noqa: E402
from shopsearch.models.base import EmbedderBase  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ICECAT = (REPO / ".." / "shared" / "datasets" / "icecat").resolve()

TARGETS = {
    "hybrid_excl_embed_p50_ms_100k": 5.0,
    "hybrid_excl_embed_p99_ms_100k": 20.0,
    "query_embed_ms": 10.0,
    "index_products_per_s": 100.0,
    "speedup_vs_fastest_competitor": 5.0,
}

# The three query variants: the same query text without a filter, with a price
# filter and with a brand filter, expressed in each system's own syntax.
VARIANTS = {
    "none": {"shopsearch": None, "lancedb": None, "milvus": ""},
    "price<=100": {"shopsearch": ["price<=100"], "lancedb": "price <= 100", "milvus": "price <= 100"},
    "brand=HP,Lenovo": {
        "shopsearch": ["brand=HP,Lenovo"],
        "lancedb": "brand IN ('HP', 'Lenovo')",
        "milvus": 'brand in ["HP", "Lenovo"]',
    },
}
MODES = ("keyword", "vector", "hybrid")
K = 10
# milvus-lite gets the same HNSW search breadth as shopsearch's configuration.
EF_SEARCH = EngineConfig.from_env().vector.ef_search


# -- measurement helpers -----------------------------------------------------
def memory() -> dict[str, int]:
    """Resident memory of this process in bytes: total, anonymous, file-backed (Linux)."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[key] = int(rest.split()[0]) * 1024
    except OSError:
        import psutil

        out["VmRSS"] = psutil.Process().memory_info().rss
    return out


def dir_bytes(path: Path) -> dict[str, int]:
    """Bytes on disk under each top-level entry of a directory (plus 'total')."""
    sizes: dict[str, int] = {}
    for entry in Path(path).iterdir():
        if entry.is_dir():
            size = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
        else:
            size = entry.stat().st_size
        key = entry.name if entry.is_dir() else ("catalogue.sqlite*" if entry.name.startswith("catalogue") else entry.name)
        sizes[key] = sizes.get(key, 0) + size
    sizes["total"] = sum(sizes.values())
    return sizes


def pctl(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"n": len(values), "p50": pctl(values, 50), "p99": pctl(values, 99), "mean": float(np.mean(values)) if len(values) else float("nan")}


# -- data --------------------------------------------------------------------
def load_icecat(icecat_dir: Path, limit: int | None):
    from shopsearch.index.ingest import BadRecord, FieldMapping, read_items

    paths = [icecat_dir / f"{i}.json.zip" for i in (1, 2, 3, 4)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"icecat files not found: {', '.join(missing)} (use --icecat-dir)")
    mapping = FieldMapping.parse(["brand=supplier", "description=name,short_description"], price_scale=0.01)
    items, bad = [], 0
    for _, it in read_items(paths, mapping):
        if isinstance(it, BadRecord):
            bad += 1
        else:
            items.append(it)
    # Ids are unique in icecat, but keep the last version of an id as the engine would.
    items = list({it.id: it for it in items}.values())
    if limit:
        items = items[:limit]
    return items, bad


def load_queries(icecat_dir: Path) -> list[str]:
    with open(icecat_dir / "Broad_Query_Set_rated.csv", newline="", encoding="utf-8") as f:
        return list(dict.fromkeys(row["query"].strip() for row in csv.DictReader(f) if row["query"].strip()))


def workload(queries: Sequence[str], passes: int) -> list[tuple[str, str]]:
    """(query, variant) pairs: every query with each filter variant, `passes` times."""
    one = [(q, v) for v in VARIANTS for q in queries]
    return one * passes


def competitor_text(item) -> str:
    """The one text field the competitors index: what shopsearch indexes, concatenated."""
    return " ".join(part for part in (item.title, item.brand, item.category, item.description) if part)[:60000]


# -- embedders ---------------------------------------------------------------
class RecordingEmbedder(EmbedderBase):
    """The real model, remembering every document vector it makes (text -> vector)
    so that the competitors get exactly the same vectors. The vectors go into an
    array allocated up front, so that they do not count in the engine's RSS growth."""

    def __init__(self, real, capacity: int) -> None:
        self.real = real
        self.name, self.dim = real.name, real.dim
        self._store = np.zeros((capacity, real.dim), dtype=np.float32)  # zeros: pages touched now
        self._row: dict[str, int] = {}
        self.doc_seconds = 0.0
        self.doc_texts = 0

    def vector(self, text: str) -> np.ndarray:
        return self._store[self._row[text]]

    def embed_queries(self, texts, dimensions=None):
        return self.real.embed_queries(texts)

    def embed_documents(self, texts, dimensions=None):
        t0 = time.perf_counter()
        out = self.real.embed_documents(texts)
        self.doc_seconds += time.perf_counter() - t0
        self.doc_texts += len(texts)
        for text, vec in zip(texts, out):
            row = self._row.setdefault(text, len(self._row))
            self._store[row] = vec
        return out


class LookupEmbedder(EmbedderBase):
    """Documents: precomputed vectors looked up by text (unknown text -> real model).
    Queries: always the real model."""

    def __init__(self, real, table: dict[str, np.ndarray]) -> None:
        self.real = real
        self.name, self.dim = real.name, real.dim
        self.table = table
        self.misses = 0
        self.doc_seconds = 0.0
        self.doc_texts = 0

    def embed_queries(self, texts, dimensions=None):
        return self.real.embed_queries(texts)

    def embed_documents(self, texts, dimensions=None):
        t0 = time.perf_counter()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        unknown = []
        for i, text in enumerate(texts):
            vec = self.table.get(text)
            if vec is None:
                unknown.append(i)
            else:
                out[i] = vec
        if unknown:
            self.misses += len(unknown)
            out[unknown] = self.real.embed_documents([texts[i] for i in unknown])
        self.doc_seconds += time.perf_counter() - t0
        self.doc_texts += len(texts)
        return out


def synthesize(items, vectors: np.ndarray, n: int, seed: int, noise: float):
    """n synthetic items recombined from icecat: a base item's title (brand swapped in
    30% of cases, a word of another title appended in 50%), another item's description
    in 50%, a perturbed price, a new id. Vector: the base item's vector + Gaussian noise
    (sigma per dimension), renormalised, registered under the item's embedding text."""
    from shopsearch import Item

    rng = np.random.default_rng(seed)
    brands = sorted({it.brand for it in items if it.brand})
    words = [it.title.split() for it in items]
    base = rng.integers(0, len(items), n)
    other = rng.integers(0, len(items), n)
    coin = rng.random((n, 3))
    price_factor = rng.lognormal(0.0, 0.25, n)
    out_items, out_vecs = [], np.empty((n, vectors.shape[1]), dtype=np.float32)
    table: dict[str, np.ndarray] = {}
    for j in range(n):
        b = items[base[j]]
        title, brand = b.title, b.brand
        if coin[j, 0] < 0.3 and brand:
            new_brand = brands[rng.integers(len(brands))]
            title, brand = title.replace(brand, new_brand), new_brand
        if coin[j, 1] < 0.5 and words[other[j]]:
            title = f"{title} {words[other[j]][-1]}"
        description = items[other[j]].description if coin[j, 2] < 0.5 else b.description
        price = None if b.price is None else round(b.price * float(price_factor[j]), 2)
        item = Item(id=f"syn-{j:07d}", title=title, description=description, brand=brand,
                    category=b.category, price=price, attributes={})
        vec = vectors[base[j]] + rng.standard_normal(vectors.shape[1]).astype(np.float32) * noise
        vec /= np.linalg.norm(vec)
        text = item.embedding_text()
        if text in table:  # same text, same vector: as a real model would
            vec = table[text]
        else:
            table[text] = vec
        out_vecs[j] = vec
        out_items.append(item)
    return out_items, out_vecs, table


# -- shopsearch --------------------------------------------------------------
def index_shopsearch(items, data_dir: Path, embedder, batch: int = 500) -> tuple[Any, dict]:
    from shopsearch import Engine

    gc.collect()
    mem0 = memory()
    t_open = time.perf_counter()
    engine = Engine.open(data_dir, embedder=embedder)
    open_s = time.perf_counter() - t_open
    t0 = time.perf_counter()
    for i in range(0, len(items), batch):
        engine.upsert(items[i : i + batch])
    upsert_s = time.perf_counter() - t0
    gc.collect()
    mem1 = memory()
    stats = engine.stats()
    n = len(items)
    metrics = {
        "items": n,
        "indexed": stats["items"],
        "open_s": open_s,
        "upsert_s": upsert_s,
        "products_per_s": n / upsert_s,
        "embed_s": embedder.doc_seconds,
        "non_embed_products_per_s": n / max(upsert_s - embedder.doc_seconds, 1e-9),
        "rss_growth_bytes": mem1["VmRSS"] - mem0["VmRSS"],
        "rss_anon_growth_bytes": mem1.get("RssAnon", 0) - mem0.get("RssAnon", 0),
        "rss_bytes_per_item": (mem1["VmRSS"] - mem0["VmRSS"]) / n,
        "rss_anon_bytes_per_item": (mem1.get("RssAnon", 0) - mem0.get("RssAnon", 0)) / n,
        "stats": stats,
    }
    return engine, metrics


def finish_disk(engine, data_dir: Path, metrics: dict) -> None:
    t0 = time.perf_counter()
    engine.close()
    metrics["close_s"] = time.perf_counter() - t0
    sizes = dir_bytes(data_dir)
    metrics["disk"] = sizes
    metrics["disk_bytes_per_item"] = sizes["total"] / metrics["items"]


def time_shopsearch(engine, work, warm, record_ids: bool = True) -> dict:
    """Per mode: took_ms, embed_ms and took-embed for every (query, variant)."""
    out: dict[str, Any] = {}
    for mode in MODES:
        for q, v in warm:
            engine.search(q, mode=mode, k=K, filters=VARIANTS[v]["shopsearch"])
        took, emb, by_variant = [], [], {v: [] for v in VARIANTS}
        ids: dict[tuple[str, str], list[str]] = {}
        for q, v in work:
            r = engine.search(q, mode=mode, k=K, filters=VARIANTS[v]["shopsearch"])
            took.append(r.took_ms)
            emb.append(r.embed_ms)
            by_variant[v].append(r.took_ms - r.embed_ms)
            if record_ids and mode == "hybrid":
                ids[(q, v)] = [h.id for h in r.hits]
        excl = [t - e for t, e in zip(took, emb)]
        out[mode] = {
            "total": summary(took),
            "embed": summary(emb),
            "excl_embed": summary(excl),
            "excl_embed_by_variant": {v: summary(x) for v, x in by_variant.items()},
            "ids": ids,
        }
    return out


def vector_recall(engine, queries: Sequence[str], k: int = K) -> dict[str, float]:
    """recall@k of the HNSW vector leg against an exact scan, per filter variant."""
    out = {}
    for variant, spec in VARIANTS.items():
        found = total = 0
        for q in queries:
            approx = {h.id for h in engine.search(q, mode="vector", k=k, filters=spec["shopsearch"]).hits}
            exact = [h.id for h in engine.search(q, mode="vector", k=k, filters=spec["shopsearch"], exact=True).hits]
            found += len(approx.intersection(exact))
            total += len(exact)
        out[variant] = found / total if total else float("nan")
    return out


def cold_filter_ms(engine, query: str) -> dict[str, float]:
    """First filtered query after a write: the engine rebuilds its filter columns."""
    out = {}
    for v in ("price<=100", "brand=HP,Lenovo"):
        engine._backends.columns.forget()  # what any upsert/delete does
        r = engine.search(query, mode="hybrid", k=K, filters=VARIANTS[v]["shopsearch"])
        out[v] = r.took_ms - r.embed_ms
    return out


def profile_hybrid(engine, work, top: int = 18) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for q, v in work:
        engine.search(q, mode="hybrid", k=K, filters=VARIANTS[v]["shopsearch"])
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def time_backend(name: str, data_dir: Path, embedder, work, warm, queries) -> dict:
    """The same catalogue under another vector backend: a copy of the directory without its vector
    index, opened with that backend (it replays the catalogue's stored vectors), then timed."""
    import dataclasses

    from shopsearch import Engine

    copy = data_dir.with_name(f"{data_dir.name}-{name}")
    shutil.copytree(data_dir, copy, ignore=shutil.ignore_patterns("vector", "*.lock"))
    base = EngineConfig.from_env()
    config = dataclasses.replace(base, vector=dataclasses.replace(base.vector, backend=name))
    gc.collect()
    before = memory()
    started = time.perf_counter()
    engine = Engine.open(copy, config, embedder=embedder)
    replay_s = time.perf_counter() - started
    grown = memory().get("RssAnon", 0) - before.get("RssAnon", 0)
    try:
        log(f"  {name}: replayed in {replay_s:.1f} s; timing queries")
        latency = time_shopsearch(engine, work, warm, record_ids=False)
        recall = vector_recall(engine, queries)
        items = engine.stats()["items"]
    finally:
        engine.close()
        shutil.rmtree(copy, ignore_errors=True)
    return {"latency": latency, "recall": recall, "replay_s": replay_s, "rss_anon_bytes_per_item": grown / max(items, 1)}


def backend_row(hybrid: dict, recall: dict) -> list:
    by = hybrid["excl_embed_by_variant"]
    return [by[v][p] for v in VARIANTS for p in ("p50", "p99")] + [recall[v] for v in VARIANTS]


# -- competitors -------------------------------------------------------------
def run_timed(fn: Callable[[str, str], list[str]], work, warm, budget_s: float, min_queries: int):
    for q, v in warm:
        fn(q, v)
    lat, by_variant, ids = [], {v: [] for v in VARIANTS}, {}
    started = time.perf_counter()
    for i, (q, v) in enumerate(work):
        t0 = time.perf_counter()
        got = fn(q, v)
        ms = (time.perf_counter() - t0) * 1000
        lat.append(ms)
        by_variant[v].append(ms)
        ids.setdefault((q, v), got)
        if i + 1 >= min_queries and time.perf_counter() - started > budget_s:
            break
    return {"excl_embed": summary(lat), "excl_embed_by_variant": {v: summary(x) for v, x in by_variant.items()}, "ids": ids}


def bench_lancedb(items, vectors, qvecs, work, warm, tmp: Path, args) -> dict:
    import lancedb
    import pyarrow as pa
    from lancedb.rerankers import RRFReranker

    db = lancedb.connect(str(tmp / "lancedb"))
    dim = vectors.shape[1]
    table = pa.table({
        "id": [it.id for it in items],
        "text": [competitor_text(it) for it in items],
        "brand": [it.brand for it in items],
        "price": pa.array([it.price for it in items], type=pa.float64()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors).ravel()), dim),
    })
    t0 = time.perf_counter()
    tbl = db.create_table("items", table)
    try:  # lancedb >= 0.25 API
        from lancedb.index import FTS, BTree, HnswSq

        tbl.create_index("text", config=FTS())
        make_vector_index = lambda: tbl.create_index("vector", config=HnswSq(distance_type="l2"))  # noqa: E731
        make_scalar_index = lambda col: tbl.create_index(col, config=BTree())  # noqa: E731
    except ImportError:
        tbl.create_fts_index("text")
        make_vector_index = lambda: tbl.create_index(metric="l2", index_type="IVF_HNSW_SQ")  # noqa: E731
        make_scalar_index = tbl.create_scalar_index
    vector_index = "none (exact scan)"
    if len(items) >= args.lance_index_from:
        make_vector_index()  # l2 on unit vectors ranks as cosine
        vector_index = "IVF_HNSW_SQ"
    for col in ("brand", "price"):
        with contextlib.suppress(Exception):
            make_scalar_index(col)
    build_s = time.perf_counter() - t0
    reranker = RRFReranker(K=60)

    def search(q: str, v: str) -> list[str]:
        b = tbl.search(query_type="hybrid").vector(qvecs[q]).text(q).rerank(reranker).limit(args.competitor_depth)
        where = VARIANTS[v]["lancedb"]
        if where:
            b = b.where(where, prefilter=True)
        return b.to_arrow()["id"].to_pylist()[:K]

    res = run_timed(search, work, warm, args.competitor_budget_s, args.competitor_min_queries)
    res.update({"build_s": build_s, "vector_index": vector_index, "version": lancedb.__version__})
    return res


def bench_milvus(items, vectors, qvecs, work, warm, tmp: Path, args) -> dict:
    import milvus_lite
    from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker

    client = MilvusClient(str(tmp / "milvus.db"))
    dim = vectors.shape[1]
    try:
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
        schema.add_field("brand", DataType.VARCHAR, max_length=512)
        schema.add_field("price", DataType.DOUBLE)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))
        params = client.prepare_index_params()
        params.add_index(field_name="dense", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200})
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        t0 = time.perf_counter()
        client.create_collection("items", schema=schema, index_params=params)
        for i in range(0, len(items), 1000):
            client.insert("items", [
                {"id": it.id, "text": competitor_text(it), "brand": it.brand,
                 "price": float(it.price) if it.price is not None else 1e18, "dense": vec.tolist()}
                for it, vec in zip(items[i : i + 1000], vectors[i : i + 1000])
            ])
        client.flush("items")
        client.load_collection("items")
        build_s = time.perf_counter() - t0
        ranker = RRFRanker(60)
        depth = args.competitor_depth

        def search(q: str, v: str) -> list[str]:
            expr = VARIANTS[v]["milvus"]
            reqs = [
                AnnSearchRequest(data=[qvecs[q].tolist()], anns_field="dense",
                                 param={"metric_type": "IP", "params": {"ef": EF_SEARCH}}, limit=depth, expr=expr),
                AnnSearchRequest(data=[q], anns_field="sparse", param={"metric_type": "BM25"}, limit=depth, expr=expr),
            ]
            res = client.hybrid_search("items", reqs, ranker=ranker, limit=K, output_fields=["id"])
            return [str(h["id"]) for h in res[0]]

        res = run_timed(search, work, warm, args.competitor_budget_s, args.competitor_min_queries)
        res.update({"build_s": build_s, "vector_index": f"HNSW M=16 efC=200 ef={EF_SEARCH}",
                    "version": f"milvus-lite {milvus_lite.__version__}"})
        return res
    finally:
        with contextlib.suppress(Exception):
            client.close()


def overlap(ids_a: dict, ids_b: dict) -> float:
    common = [key for key in ids_a if key in ids_b]
    if not common:
        return float("nan")
    return float(np.mean([len(set(ids_a[k]) & set(ids_b[k])) / K for k in common]))


# -- main --------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run (2k / 5k items, few queries)")
    ap.add_argument("--out", type=Path, help="also write all results as JSON to this file")
    ap.add_argument("--icecat-dir", type=Path, default=DEFAULT_ICECAT, help=f"default: {DEFAULT_ICECAT}")
    ap.add_argument("--synthetic-size", type=int, default=None, help="size of the synthetic catalogue (default 100000)")
    ap.add_argument("--synthetic-embed", choices=("noise", "real"), default="noise",
                    help="synthetic document vectors: icecat vector + noise (default) or the real model")
    ap.add_argument("--model", default="default", help="the embedding model (a model string, as in the README)")
    ap.add_argument("--noise", type=float, default=0.015, help="per-dimension sigma of the synthetic vector noise")
    ap.add_argument("--passes", type=int, default=None, help="passes over the query workload per mode (default 2)")
    ap.add_argument("--competitors", default="lancedb,milvus", help="comma list; empty to skip")
    ap.add_argument("--competitor-sizes", default="20k,100k", help="comma list of 20k,100k")
    ap.add_argument("--competitor-depth", type=int, default=K,
                    help="per-leg candidates for the competitors (default 10 = k; shopsearch uses 100)")
    ap.add_argument("--competitor-budget-s", type=float, default=None, help="time budget per competitor timing loop")
    ap.add_argument("--competitor-min-queries", type=int, default=None)
    ap.add_argument("--lance-index-from", type=int, default=50_000,
                    help="build a LanceDB IVF_HNSW_SQ vector index from this many rows (below: exact scan)")
    ap.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                    help="cProfile the 100k hybrid loop (auto: only when it misses its target)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--simd", choices=("native", "avx2"), default="native",
                    help="avx2: faiss and OpenBLAS as on an AVX2-only CPU (ONNX Runtime, hnswlib, tantivy keep this CPU's)")
    ap.add_argument("--icecat-vectors", type=Path,
                    help="an .npz cache of the icecat items' vectors under --model: read when it exists (no "
                         "re-embedding), else written after embedding")
    ap.add_argument("--vector-backends", default="",
                    help="comma list of further vector backends (hnsw, faiss) to time on the synthetic catalogue "
                         "beside the configured one, each replayed from the same catalogue (table 6)")
    args = ap.parse_args(argv)

    icecat_limit = 2000 if args.quick else None
    syn_n = args.synthetic_size or (5000 if args.quick else 100_000)
    passes = args.passes or (1 if args.quick else 2)
    if args.competitor_budget_s is None:
        args.competitor_budget_s = 10.0 if args.quick else 60.0
    if args.competitor_min_queries is None:
        args.competitor_min_queries = 30 if args.quick else 150
    competitors = [c for c in args.competitors.split(",") if c.strip()]
    comp_sizes = [s.strip() for s in args.competitor_sizes.split(",") if s.strip()]

    import shopsearch
    from shopsearch.config import ModelConfig
    from shopsearch.models import create_embedder

    results: dict[str, Any] = {
        "meta": {
            "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "quick": args.quick, "shopsearch": shopsearch.__version__,
            "k": K, "passes": passes, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "cpu": cpu_flags(), "simd": simd_note(),
        },
        "targets": TARGETS,
    }
    run_started = time.perf_counter()
    load_before = os.getloadavg()
    tmp_root = Path(tempfile.mkdtemp(prefix="shopsearch-bench-"))
    try:
        log("loading icecat")
        items, bad = load_icecat(args.icecat_dir, icecat_limit)
        queries = load_queries(args.icecat_dir)
        if args.quick:
            queries = queries[:20]
        work = workload(queries, passes)
        warm = [(q, v) for v in VARIANTS for q in queries[: min(len(queries), 30)]]
        log(f"{len(items)} icecat items ({bad} bad records), {len(queries)} unique queries, "
            f"{len(work)} timed queries per mode")

        real = create_embedder(ModelConfig(embedder=args.model))
        log(f"model: {real.name}")
        real.embed_documents(["warm up the model"])
        t0 = time.perf_counter()
        qmat = real.embed_queries(queries)
        batch_q_ms = (time.perf_counter() - t0) * 1000 / len(queries)
        qvecs = {q: qmat[i] for i, q in enumerate(queries)}

        # ---- 1-3: icecat ~20k -------------------------------------------------
        label_small = f"icecat {len(items) / 1000:.1f}k"
        log(f"indexing {label_small} with the real model")
        cache = args.icecat_vectors
        if cache is not None and cache.exists():
            saved = np.load(cache)
            rec = LookupEmbedder(real, dict(zip(saved["texts"].tolist(), saved["vectors"])))
        else:
            rec = RecordingEmbedder(real, len(items))
        dir_small = tmp_root / "icecat"
        engine, idx_small = index_shopsearch(items, dir_small, rec)
        if isinstance(rec, LookupEmbedder):
            vec_small = np.stack([rec.table[it.embedding_text()] for it in items])
        else:
            vec_small = np.stack([rec.vector(it.embedding_text()) for it in items])
            if cache is not None:
                texts = [it.embedding_text() for it in items]
                np.savez(cache, texts=np.array(texts), vectors=vec_small)
        log(f"  {idx_small['products_per_s']:.0f} products/s; timing queries")
        lat_small = time_shopsearch(engine, work, warm)
        recall_small = vector_recall(engine, queries)
        cold_small = cold_filter_ms(engine, queries[0])
        finish_disk(engine, dir_small, idx_small)
        del engine
        gc.collect()

        # ---- 100k synthetic -------------------------------------------------------
        label_big = f"synthetic {syn_n / 1000:.0f}k"
        log(f"synthesising {syn_n} items")
        syn_items, syn_vecs, table = synthesize(items, vec_small, syn_n, args.seed, args.noise)
        if args.synthetic_embed == "real":
            big_embedder = RecordingEmbedder(real, len(syn_items))
        else:
            big_embedder = LookupEmbedder(real, table)
        log(f"indexing {label_big} ({args.synthetic_embed} embeddings)")
        dir_big = tmp_root / "synthetic"
        engine, idx_big = index_shopsearch(syn_items, dir_big, big_embedder)
        if args.synthetic_embed == "real":
            syn_vecs = np.stack([big_embedder.vector(it.embedding_text()) for it in syn_items])
        log(f"  {idx_big['products_per_s']:.0f} products/s; timing queries")
        lat_big = time_shopsearch(engine, work, warm)
        recall_big = vector_recall(engine, queries)
        hybrid_p50 = lat_big["hybrid"]["excl_embed"]["p50"]
        hybrid_p99 = lat_big["hybrid"]["excl_embed"]["p99"]
        missed = hybrid_p50 > TARGETS["hybrid_excl_embed_p50_ms_100k"] or hybrid_p99 > TARGETS["hybrid_excl_embed_p99_ms_100k"]
        profile_text = None
        if args.profile == "always" or (args.profile == "auto" and missed):
            log("profiling the hybrid loop at the synthetic size")
            profile_text = profile_hybrid(engine, work[: len(work) // passes])
        cold_big = cold_filter_ms(engine, queries[0])  # after profiling: it drops the filter columns
        finish_disk(engine, dir_big, idx_big)
        del engine
        gc.collect()
        other_backends = {name: time_backend(name, dir_big, big_embedder, work, warm, queries)
                          for name in args.vector_backends.split(",") if name.strip()}

        # ---- 4: competitors ---------------------------------------------------
        comp: dict[str, dict[str, Any]] = {}
        datasets = {"20k": (label_small, items, vec_small, lat_small), "100k": (label_big, syn_items, syn_vecs, lat_big)}
        for size in comp_sizes:
            if size not in datasets:
                continue
            label, its, vecs, _ = datasets[size]
            for name in competitors:
                fn = {"lancedb": bench_lancedb, "milvus": bench_milvus}.get(name)
                if fn is None:
                    continue
                log(f"{name} on {label}")
                sub = tmp_root / f"{name}-{size}"
                sub.mkdir()
                try:
                    comp.setdefault(size, {})[name] = fn(its, vecs, qvecs, work, warm, sub, args)
                except Exception as exc:  # report and go on
                    comp.setdefault(size, {})[name] = {"error": f"{type(exc).__name__}: {exc}"}
                    traceback.print_exc(file=sys.stderr)
                finally:
                    if not args.keep:
                        shutil.rmtree(sub, ignore_errors=True)
                    gc.collect()

        total_s = time.perf_counter() - run_started
        # ---- report -------------------------------------------------------------
        print(f"\nshopsearch {shopsearch.__version__} benchmark  |  {os.cpu_count()} CPUs  |  Python "
              f"{platform.python_version()}  |  k={K}  |  {'QUICK' if args.quick else 'full'} run, {total_s:.0f} s  |  load avg before/after "
              f"{load_before[0]:.2f}/{os.getloadavg()[0]:.2f} (other processes skew timings)")
        print(f"CPU: {cpu_flags()}; {simd_note()}")

        rows = []
        for label, m, how in ((label_small, idx_small, "real model"), (label_big, idx_big, f"{args.synthetic_embed} vectors")):
            rows.append([f"{label} ({how})", m["items"], m["upsert_s"], m["products_per_s"], m["embed_s"],
                         m["non_embed_products_per_s"], m["close_s"]])
        print_table("1. Indexing (Engine.upsert, batches of 500)",
                    ["catalogue", "items", "upsert s", "products/s", "embed s", "products/s excl. embed", "close s"], rows)

        rows = []
        for label, lat in ((label_small, lat_small), (label_big, lat_big)):
            for mode in MODES:
                r = lat[mode]
                rows.append([label, mode, r["total"]["n"], r["total"]["p50"], r["total"]["p99"], r["embed"]["p50"],
                             r["embed"]["p99"], r["excl_embed"]["p50"], r["excl_embed"]["p99"]])
        print_table("2. Query latency (ms) over all variants (no filter, price<=100, brand=HP,Lenovo)",
                    ["catalogue", "mode", "queries", "total p50", "total p99", "embed p50", "embed p99",
                     "excl. embed p50", "excl. embed p99"], rows)

        rows = []
        for label, lat, cold in ((label_small, lat_small, cold_small), (label_big, lat_big, cold_big)):
            for mode in MODES:
                row = [label, mode]
                for v in VARIANTS:
                    s = lat[mode]["excl_embed_by_variant"][v]
                    row += [s["p50"], s["p99"]]
                rows.append(row)
            rows.append([label, "hybrid, 1st filtered query after a write", "-", "-",
                         cold["price<=100"], "-", cold["brand=HP,Lenovo"], "-"])
        print_table("2b. Latency excluding query embedding (ms), per filter variant",
                    ["catalogue", "mode", "none p50", "none p99", "price p50", "price p99", "brand p50", "brand p99"], rows)

        rows = []
        for label, m in ((label_small, idx_small), (label_big, idx_big)):
            d = m["disk"]
            rows.append([label, m["items"], m["rss_growth_bytes"] / 2**20, m["rss_bytes_per_item"],
                         m["rss_anon_bytes_per_item"], d["total"] / 2**20, m["disk_bytes_per_item"],
                         d.get("catalogue.sqlite*", 0) / m["items"], d.get("keyword", 0) / m["items"],
                         d.get("vector", 0) / m["items"]])
        results["vector_recall@10"] = {label_small: recall_small, label_big: recall_big}
        print_table(
            "2c. Vector leg recall@10 against exact search (goal >= 0.95)",
            ["catalogue", *VARIANTS],
            [[label, *[f"{r[v]:.3f}" for v in VARIANTS]] for label, r in ((label_small, recall_small), (label_big, recall_big))],
        )
        print_table("3. Memory and disk per item",
                    ["catalogue", "items", "RSS growth MiB", "RSS B/item", "anon RSS B/item", "disk MiB",
                     "disk B/item", "sqlite B/item", "keyword B/item", "vector B/item"], rows)

        rows, ratios = [], {}
        for size in comp_sizes:
            if size not in datasets:
                continue
            label, _, _, lat = datasets[size]
            ours = lat["hybrid"]
            rows.append([label, "shopsearch", ours["excl_embed"]["n"], ours["excl_embed"]["p50"], ours["excl_embed"]["p99"],
                         *[ours["excl_embed_by_variant"][v]["p50"] for v in VARIANTS], 1.0, "-", f"HNSW M=16 ef={EF_SEARCH} + tantivy"])
            for name in competitors:
                r = comp.get(size, {}).get(name)
                if r is None:
                    continue
                if "error" in r:
                    rows.append([label, name, "FAILED", r["error"][:90], "", "", "", "", "", "", ""])
                    continue
                ratio50 = r["excl_embed"]["p50"] / ours["excl_embed"]["p50"]
                ratio99 = r["excl_embed"]["p99"] / ours["excl_embed"]["p99"]
                ratios.setdefault(size, {})[name] = {"p50": ratio50, "p99": ratio99}
                r["overlap_at_10_with_shopsearch"] = overlap(ours["ids"], r["ids"])
                rows.append([label, f"{name} ({r['version']})", r["excl_embed"]["n"], r["excl_embed"]["p50"],
                             r["excl_embed"]["p99"], *[r["excl_embed_by_variant"][v]["p50"] for v in VARIANTS],
                             ratio50, r["overlap_at_10_with_shopsearch"], r["vector_index"]])
        if rows:
            print_table(f"4. Hybrid latency excluding query embedding (ms), same vectors/texts/queries, k={K}, "
                        f"competitor per-leg depth {args.competitor_depth} (shopsearch: 100)",
                        ["catalogue", "system", "queries", "p50", "p99", "none p50", "price p50", "brand p50",
                         "x slower than shopsearch (p50)", "overlap@10", "vector index"], rows)
            for size, by in ratios.items():
                fastest = min(by, key=lambda n: comp[size][n]["excl_embed"]["p50"])
                parts = [f"{by[n]['p50']:.1f}x faster than {n} (p50; p99 {by[n]['p99']:.1f}x)" for n in by]
                print(f"  {datasets[size][0]}: shopsearch is " + ", ".join(parts))
                ok = by[fastest]["p50"] >= TARGETS["speedup_vs_fastest_competitor"]
                print(f"  goal: >= {TARGETS['speedup_vs_fastest_competitor']:.0f}x faster than the faster of the two "
                      f"({fastest}): {by[fastest]['p50']:.1f}x -> {'MET' if ok else 'MISSED'}")

        if other_backends:
            configured = EngineConfig.from_env().vector.backend
            rows = [[f"{configured} (configured)", *backend_row(lat_big["hybrid"], recall_big), "-", "-"]]
            for name, r in other_backends.items():
                rows.append([name, *backend_row(r["latency"]["hybrid"], r["recall"]), r["replay_s"],
                             r["rss_anon_bytes_per_item"]])
            print_table(f"6. Vector backends on {label_big}: hybrid excl. embedding (ms) and vector recall@10, "
                        f"same catalogue and queries ({cpu_flags()}; {simd_note()})",
                        ["backend", "none p50", "none p99", "price p50", "price p99", "brand p50", "brand p99",
                         "recall none", "recall price", "recall brand", "replay s", "anon RSS B/item on open"], rows)
            results["vector_backends"] = {n: _strip(r) for n, r in other_backends.items()}

        big = lat_big["hybrid"]
        emb = lat_big["hybrid"]["embed"]
        target_rows = [
            [f"indexing throughput ({label_small}, real model)", ">= 100 products/s", f"{idx_small['products_per_s']:.0f}",
             idx_small["products_per_s"] >= TARGETS["index_products_per_s"]],
            [f"hybrid excl. embedding p50 ({label_big})", "<= 5 ms", f"{big['excl_embed']['p50']:.2f}",
             big["excl_embed"]["p50"] <= TARGETS["hybrid_excl_embed_p50_ms_100k"]],
            [f"hybrid excl. embedding p99 ({label_big})", "<= 20 ms", f"{big['excl_embed']['p99']:.2f}",
             big["excl_embed"]["p99"] <= TARGETS["hybrid_excl_embed_p99_ms_100k"]],
            ["query embedding p50 (in-engine, 1 query)", "<= 10 ms", f"{emb['p50']:.2f}", emb["p50"] <= TARGETS["query_embed_ms"]],
            ["query embedding p99 (in-engine, 1 query)", "<= 10 ms", f"{emb['p99']:.2f}", emb["p99"] <= TARGETS["query_embed_ms"]],
        ]
        for size, by in ratios.items():
            fastest = min(by, key=lambda n: comp[size][n]["excl_embed"]["p50"])
            target_rows.append([f"speed-up vs faster competitor ({fastest}, {datasets[size][0]}, p50)", ">= 5x",
                                f"{by[fastest]['p50']:.1f}x", by[fastest]["p50"] >= TARGETS["speedup_vs_fastest_competitor"]])
        print_table("5. Targets", ["metric", "target", "measured", "status"],
                    [[a, b, c, "PASS" if ok else "MISS"] for a, b, c, ok in target_rows])
        print(f"  (query embedding of all {len(queries)} queries in one batch: {batch_q_ms:.2f} ms/query)")
        if isinstance(big_embedder, LookupEmbedder) and big_embedder.misses:
            print(f"  note: {big_embedder.misses} synthetic texts were not precomputed and went through the real model")
        if profile_text:
            print(f"\n== cProfile of {len(work) // passes} hybrid queries on {label_big} (sorted by own time) ==")
            print(profile_text)

        results.update({
            "indexing": {label_small: _strip(idx_small), label_big: _strip(idx_big)},
            "latency": {label_small: _strip(lat_small), label_big: _strip(lat_big)},
            "cold_filter_ms": {label_small: cold_small, label_big: cold_big},
            "competitors": {s: {n: _strip(r) for n, r in by.items()} for s, by in comp.items()},
            "speedup": ratios,
            "targets_status": {a: ok for a, _, _, ok in target_rows},
            "batch_query_embed_ms": batch_q_ms,
            "profile": profile_text,
            "total_s": total_s,
        })
        if args.out:
            args.out.write_text(json.dumps(results, indent=2, default=float))
            print(f"\nresults written to {args.out}")
    finally:
        if args.keep:
            print(f"data kept in {tmp_root}")
        else:
            shutil.rmtree(tmp_root, ignore_errors=True)
    return 0


def _strip(obj):
    """Results without the per-query id lists (they are only for the overlap figure)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k != "ids"}
    return obj


if __name__ == "__main__":
    sys.exit(main())
