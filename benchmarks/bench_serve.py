"""HTTP serving speed: search QPS with and without the result cache, and /v1/embeddings against infinity-emb.

Run: python benchmarks/bench_serve.py [--data-dir DIR] [--requests 800] [--infinity PATH/TO/infinity_emb]

Search: `shopsearch serve` over the Icecat catalogue (indexed first unless
--data-dir already holds it), the 95 judged queries cycled, concurrency 1/8/32,
once with `--cache none` and once with the default in-process cache (warmed
by one pass). Embeddings: the same Hugging Face-format model served by
shopsearch (`--embedding-model st:FOLDER`) and by infinity-emb (`v2 --model-id
FOLDER`) on this machine in this run, one text per request, concurrency
1/8/32: throughput ratio and p50/p99. The model is a sentence-transformers
folder with a MiniLM-L6 shape (6 layers, 384 wide, random weights, a WordPiece
vocabulary trained here on the catalogue's texts): nothing to download, and
both servers run the very same weights.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ICECAT = ROOT / ".." / "shared" / "datasets" / "icecat"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, path: str = "/health", seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}; see {tempfile.gettempdir()}/shopsearch-bench-*.log")
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{url} did not become ready")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def load(url: str, bodies: list[dict], concurrency: int, path: str) -> tuple[float, list[float]]:
    """Send every body with `concurrency` in flight: (requests/s, latencies in ms)."""
    latencies: list[float] = []
    queue = list(enumerate(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker():
            while queue:
                _, body = queue.pop()
                t0 = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path} answered {response.status_code}: {response.text[:200]}")
        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    return len(bodies) / elapsed, latencies


def log_file(name: str):
    # A server's log goes to a file: an undrained pipe fills up and blocks the server mid-run.
    return open(Path(tempfile.gettempdir()) / f"shopsearch-bench-{name}.log", "w")


def measure(name: str, url: str, bodies: list[dict], path: str, warm_up: list[dict]) -> list[tuple]:
    """Rows (name, concurrency, requests/s, p50 ms, p99 ms) at concurrency 1, 8 and 32, after a warm-up pass."""
    asyncio.run(load(url, warm_up, 4, path))
    rows = []
    for concurrency in (1, 8, 32):
        rate, latencies = asyncio.run(load(url, bodies, concurrency, path))
        rows.append((name, concurrency, rate, *np.percentile(latencies, [50, 99])))
        print(*rows[-1], flush=True)
    return rows


def serve(data_dir: Path, *extra: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "shopsearch.cli.main", "serve", "--data-dir", str(data_dir),
                                "--port", str(port), *extra], stdout=log_file("shopsearch"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, "/ready")
    return url, process


def search_benchmark(data_dir: Path, queries: list[str], requests: int) -> list[tuple]:
    rows = []
    bodies = [{"query": queries[i % len(queries)], "k": 10} for i in range(requests)]
    for cache in ("none", "memory"):
        url, process = serve(data_dir, "--cache", cache)
        try:  # the warm-up pass fills the cache when it is on
            rows += measure(f"search, cache {cache}", url, bodies, "/v1/search", bodies[: len(queries)])
        finally:
            stop(process)
    return rows


def build_model(folder: Path, texts: list[str]) -> Path:
    """A MiniLM-L6-shaped sentence-transformers folder with a WordPiece vocabulary trained on `texts`."""
    import torch
    from tokenizers import Tokenizer, decoders, models as tok_models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(tok_models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=30522, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                             special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=384, num_hidden_layers=6,
                                num_attention_heads=12, intermediate_size=1536))
    # Written by hand in the classic sentence-transformers layout (Transformer at the root,
    # mean Pooling in 1_Pooling) that every version reads, infinity-emb's older one included.
    st = folder / "st"
    bert.save_pretrained(st)
    fast.save_pretrained(st)
    config = json.loads((st / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"  # a name transformers 4 (infinity-emb's) also knows
    (st / "tokenizer_config.json").write_text(json.dumps(config))
    (st / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (st / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 384, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    (st / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256, "do_lower_case": False}))
    (st / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    return st


def embeddings_benchmark(model: Path, texts: list[str], requests: int, infinity: str | None, tmp: Path) -> list[tuple]:
    rows = []
    bodies = [{"input": texts[i % len(texts)] + f" #{i}", "model": "default"} for i in range(requests)]  # no cache hits
    data_dir = tmp / "embed-index"
    subprocess.run([sys.executable, "-m", "shopsearch.cli.main", "index", str(ROOT / "tests" / "fixtures" / "icecat_slice.json.zip"),
                    "--data-dir", str(data_dir), "--embedding-model", f"st:{model}"], check=True, capture_output=True)
    url, process = serve(data_dir, "--embedding-model", f"st:{model}", "--cache", "none")
    try:
        rows += measure("embeddings, shopsearch", url, bodies, "/v1/embeddings", bodies[:64])
    finally:
        stop(process)
    if infinity is None:
        print("infinity-emb not given (--infinity PATH): comparison skipped")
        return rows
    port = free_port()
    process = subprocess.Popen([infinity, "v2", "--model-id", str(model), "--port", str(port), "--host", "127.0.0.1",
                                "--device", "cpu", "--engine", "torch", "--served-model-name", "default",
                                "--no-model-warmup"], stdout=log_file("infinity"), stderr=subprocess.STDOUT,
                               env={**os.environ, "INFINITY_ANONYMOUS_USAGE_STATS": "0", "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, "/health")
        rows += measure("embeddings, infinity-emb", url, bodies, "/embeddings", bodies[:64])
    finally:
        stop(process)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None, help="an index of the Icecat catalogue (built if absent)")
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--infinity", default=None, help="path to the infinity_emb executable (its own virtualenv)")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()

    queries = sorted({row["query"] for row in csv.DictReader(open(ICECAT / "Broad_Query_Set_rated.csv"))})
    tmp = Path(tempfile.mkdtemp(prefix="shopsearch-bench-serve-"))
    rows = []
    if not args.skip_search:
        data_dir = args.data_dir or tmp / "icecat"
        if not (data_dir / "catalogue.sqlite").exists():
            subprocess.run([sys.executable, "-m", "shopsearch.cli.main", "index", *map(str, sorted(ICECAT.glob("*.json.zip"))),
                            "--data-dir", str(data_dir), "--map", "brand=supplier", "--map", "description=name,short_description",
                            "--price-scale", "0.01"], check=True, capture_output=True)
        rows += search_benchmark(data_dir, queries, args.requests)
    from shopsearch.index.ingest import FieldMapping, read_items
    from shopsearch.index.items import Item

    texts = [it.embedding_text() for _, it in read_items([ROOT / "tests" / "fixtures" / "icecat_slice.json.zip"],
                                                        FieldMapping.parse(["brand=supplier", "description=name,short_description"]))
             if isinstance(it, Item)]
    model = build_model(tmp / "model", texts)
    rows += embeddings_benchmark(model, texts, args.requests, args.infinity, tmp)

    print(f"\n{os.cpu_count()} cores; {args.requests} requests per row\n")
    print("| what | concurrency | requests/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for name, concurrency, rate, p50, p99 in rows:
        print(f"| {name} | {concurrency} | {rate:,.1f} | {p50:.1f} | {p99:.1f} |")
    ours = {c: (r, p99) for n, c, r, _, p99 in rows if n == "embeddings, shopsearch"}
    theirs = {c: (r, p99) for n, c, r, _, p99 in rows if n == "embeddings, infinity-emb"}
    for concurrency in sorted(set(ours) & set(theirs)):
        print(f"concurrency {concurrency}: shopsearch / infinity-emb throughput {ours[concurrency][0] / theirs[concurrency][0]:.2f}x, "
              f"p99 {ours[concurrency][1]:.1f} vs {theirs[concurrency][1]:.1f} ms")


if __name__ == "__main__":
    main()
