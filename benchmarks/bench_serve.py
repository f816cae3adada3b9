"""HTTP serving speed: search QPS with and without the result cache, search with a slow remote reranker, and
/v1/embeddings against infinity-emb; optionally the same search rows on an older commit, in the same run.

Run:
    python benchmarks/bench_serve.py [--data-dir DIR] [--requests 800] [--rerank-requests 40]
        [--beside-requests 200] [--rerank-delay-ms 200] [--baseline-src OLD_TREE] [--skip-embeddings] [--skip-search] [--infinity PATH/TO/infinity_emb]

Compare with the commit before a change (its tree served from the same data directory, in the same run):
    git clone -q . /tmp/shopsearch-old && git -C /tmp/shopsearch-old checkout -q d5f7442
    python benchmarks/bench_serve.py --skip-embeddings --baseline-src /tmp/shopsearch-old

Search: `shopsearch serve` over the Icecat catalogue (indexed first, with this
checkout's code, unless --data-dir already holds an index; --catalogue names
other files), the 95 judged queries cycled, k=10:
- plain search, concurrency 1/8/32, `--cache none`, then the same with the
  default in-process cache (warmed by one pass).
- search + rerank: the server runs with `--cache none --rerank-model
  cohere:http://127.0.0.1:PORT/v1#slow-reranker`, a fake reranker that this
  run starts in its own process (benchmarks/slow_reranker.py: threaded, each
  call sleeps --rerank-delay-ms, default 200, then scores by query/document word
  overlap). Bodies carry `"rerank": true, "rerank_depth": 20`; an answer that
  is degraded or was not reranked stops the run. Concurrency 1 (--rerank-requests
  searches) and 8 (4x as many); the c8/c1 throughput ratio is printed (goal >= 5x:
  the server must not serialise the reranker's wait).
- plain beside rerank, on that same server: plain searches (`"rerank": false`,
  --beside-requests of them, default min(--requests, 200)) at concurrency 4 alone, then the same plain load while 8
  rerank searches run without pause beside it (two load generators at once);
  p99 beside / p99 alone is printed (goal <= 2x).
With --baseline-src (an old commit's tree: its src/ folder, or a checkout root
holding src/), the plain cache-none rows (--rounds of them, default 2, old and new
taking turns to go first; figures are the means) and the rerank rows run on the old code
as well: the server is started with PYTHONPATH=OLD/src (the import is checked
and printed), from the same data directory (if the old code cannot open it, a
copy is indexed with the old code, and the run says so). This checkout's code is
served with PYTHONPATH=./src. One server runs at a time, old and new alternating;
a table prints old and new side by side with new/old ratios.

Embeddings (--skip-embeddings leaves them out; they build a torch model and take
minutes): the same Hugging Face-format model served by shopsearch
(`--embedding-model st:FOLDER`) and by infinity-emb (`v2 --model-id FOLDER`) on
this machine in this run, one text per request, concurrency 1/8/32: throughput
ratio and p50/p99. The model is a sentence-transformers folder with a MiniLM-L6
shape (6 layers, 384 wide, random weights, a WordPiece vocabulary trained here on
the catalogue's texts): nothing to download, and both servers run the very same
weights.

Every process the run starts (servers, the fake reranker) is stopped by its id at
the end (SIGTERM, then kill); all traffic stays on 127.0.0.1. Server logs:
$TMPDIR/shopsearch-bench-*.log.
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
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ICECAT = ROOT / ".." / "shared" / "datasets" / "icecat"
MAPPING = ["--map", "brand=supplier", "--map", "description=name,short_description", "--price-scale", "0.01"]
RERANK_DEPTH = 20
PLAIN, CACHED = "search, cache none", "search, cache memory"
PLAIN_ALONE, PLAIN_BESIDE = "plain search alone (reranker configured)", "plain search beside 8 rerank searches"


def rerank_row(delay_ms: float) -> str:
    return f"search + rerank ({delay_ms:g} ms reranker)"


def rerank_beside_row(delay_ms: float) -> str:
    return f"search + rerank ({delay_ms:g} ms reranker) beside the plain load"


@dataclass(frozen=True)
class Code:
    """A shopsearch source tree that servers are started from: `src` goes first on PYTHONPATH."""

    label: str  # "new" (this checkout) or "old" (--baseline-src)
    src: Path

    @classmethod
    def at(cls, label: str, path: Path) -> Code:
        path = path.resolve()
        for src in (path / "src", path):
            if (src / "shopsearch" / "__init__.py").exists():
                return cls(label, src)
        raise SystemExit(f"{path}: no shopsearch package in it or in its src/ folder")

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(self.src), os.environ.get("PYTHONPATH")]))}

    def run(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        # cwd = src: `python -m` puts the working directory first on sys.path, so nothing else can shadow it.
        return subprocess.run([sys.executable, *args], env=self.env(), cwd=self.src, check=check, **kwargs)

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, *args], env=self.env(), cwd=self.src, **kwargs)

    def check(self) -> None:
        """Stop the run unless a child started like the servers imports shopsearch from this tree."""
        found = self.run("-c", "import shopsearch; print(shopsearch.__file__)", capture_output=True, text=True, check=True)
        where = Path(found.stdout.strip()).resolve()
        if not where.is_relative_to(self.src):
            raise SystemExit(f"{self.label} code: a child imported {where}, not the tree at {self.src}")
        print(f"{self.label} code: shopsearch from {where}", flush=True)

    def index(self, files: list[Path], data_dir: Path) -> None:
        self.run("-m", "shopsearch.cli.main", "index", *map(str, files), "--data-dir", str(data_dir), *MAPPING,
                 check=True, capture_output=True)


class ServerExited(SystemExit):
    """A server process ended before it was ready."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, path: str = "/health", seconds: float = 300, log: str = "") -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise ServerExited(f"server exited with {process.returncode}; see {log or tempfile.gettempdir() + '/shopsearch-bench-*.log'}")
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(process)
    raise SystemExit(f"{url} did not become ready")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reranked(answer: dict) -> str | None:
    """Why a rerank search's answer does not count (degraded, or no rerank stage ran), or None."""
    if answer.get("degraded"):
        return f"degraded: {answer.get('degraded_reason')}"
    if "rerank_ms" not in (answer.get("timings") or {}):
        return "no rerank_ms in its timings: the rerank stage did not run"
    return None


async def load(url: str, bodies: list[dict], concurrency: int, path: str, check=None,
               until: asyncio.Event | None = None) -> tuple[float, list[float]]:
    """Send every body with `concurrency` in flight: (requests/s, latencies in ms). With `until`, keep
    cycling through the bodies until that event is set. `check(answer)` names what is wrong with an answer."""
    latencies: list[float] = []
    queue = list(enumerate(bodies))
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker():
            nonlocal sent
            while (queue if until is None else not until.is_set()):
                if until is None:
                    _, body = queue.pop()
                else:
                    body, sent = bodies[sent % len(bodies)], sent + 1
                t0 = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path} answered {response.status_code}: {response.text[:200]}")
                if check is not None and (wrong := check(response.json())):
                    raise SystemExit(f"{path} {body}: {wrong}")
        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


def row(code: str, name: str, concurrency: int, rate: float, latencies: list[float]) -> tuple:
    out = (code, name, concurrency, rate, *np.percentile(latencies, [50, 99]))
    print(*out, flush=True)
    return out


def log_file(name: str):
    # A server's log goes to a file: an undrained pipe fills up and blocks the server mid-run.
    return open(Path(tempfile.gettempdir()) / f"shopsearch-bench-{name}.log", "w")


def measure(code: str, name: str, url: str, bodies: list[dict], path: str, warm_up: list[dict]) -> list[tuple]:
    """Rows (code, name, concurrency, requests/s, p50 ms, p99 ms) at concurrency 1, 8 and 32, after a warm-up pass."""
    asyncio.run(load(url, warm_up, 4, path))
    rows = []
    for concurrency in (1, 8, 32):
        rows.append(row(code, name, concurrency, *asyncio.run(load(url, bodies, concurrency, path))))
    return rows


def serve(code: Code, data_dir: Path, *extra: str, log: str = "shopsearch") -> tuple[str, subprocess.Popen]:
    port = free_port()
    with log_file(log) as out:
        process = code.popen("-m", "shopsearch.cli.main", "serve", "--data-dir", str(data_dir), "--port", str(port),
                             *extra, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, "/ready", log=out.name)
    return url, process


def plain_bodies(queries: list[str], n: int, **extra) -> list[dict]:
    return [{"query": queries[i % len(queries)], "k": 10, **extra} for i in range(n)]


def search_benchmark(code: Code, data_dir: Path, queries: list[str], requests: int, caches=("none", "memory")) -> list[tuple]:
    rows = []
    bodies = plain_bodies(queries, requests)
    for cache in caches:
        url, process = serve(code, data_dir, "--cache", cache, log=f"{code.label}-cache-{cache}")
        try:  # the warm-up pass fills the cache when it is on
            rows += measure(code.label, f"search, cache {cache}", url, bodies, "/v1/search", bodies[: len(queries)])
        finally:
            stop(process)
    return rows


def start_reranker(delay_ms: float) -> tuple[str, subprocess.Popen]:
    """benchmarks/slow_reranker.py in its own process on a free port of 127.0.0.1: (base URL, process)."""
    port = free_port()
    with log_file("slow-reranker") as out:
        process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("slow_reranker.py")), "--host", "127.0.0.1",
                                    "--port", str(port), "--delay-ms", str(delay_ms)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, "/health", seconds=30, log=out.name)
    except BaseException:
        stop(process)
        raise
    return url, process


async def beside(url: str, plain: list[dict], rerank: list[dict], lead_s: float) -> tuple[tuple, tuple]:
    """The plain load at concurrency 4 while rerank searches run at concurrency 8 from `lead_s` before it
    starts until it ends: ((plain requests/s, latencies), (rerank requests/s, latencies))."""
    done = asyncio.Event()

    async def plain_load():
        await asyncio.sleep(lead_s)  # all 8 rerank searches in flight first
        try:
            return await load(url, plain, 4, "/v1/search")
        finally:
            done.set()

    return tuple(await asyncio.gather(plain_load(), load(url, rerank, 8, "/v1/search", check=reranked, until=done)))


def rerank_benchmark(code: Code, data_dir: Path, queries: list[str], beside_requests: int, rerank_requests: int,
                     reranker_url: str, delay_ms: float) -> list[tuple]:
    rows = []
    plain = plain_bodies(queries, beside_requests, rerank=False)  # a configured reranker is on by default
    url, process = serve(code, data_dir, "--cache", "none", "--rerank-model", f"cohere:{reranker_url}/v1#slow-reranker",
                         log=f"{code.label}-rerank")
    try:
        asyncio.run(load(url, plain[: len(queries)], 4, "/v1/search"))
        asyncio.run(load(url, plain_bodies(queries, 8, rerank=True, rerank_depth=RERANK_DEPTH), 8, "/v1/search", check=reranked))
        for concurrency, n in ((1, rerank_requests), (8, 4 * rerank_requests)):
            bodies = plain_bodies(queries, n, rerank=True, rerank_depth=RERANK_DEPTH)
            rows.append(row(code.label, rerank_row(delay_ms), concurrency,
                            *asyncio.run(load(url, bodies, concurrency, "/v1/search", check=reranked))))
        rows.append(row(code.label, PLAIN_ALONE, 4, *asyncio.run(load(url, plain, 4, "/v1/search"))))
        rerank = plain_bodies(queries, len(queries), rerank=True, rerank_depth=RERANK_DEPTH)
        plain_load, rerank_load = asyncio.run(beside(url, plain, rerank, 2 * delay_ms / 1000))
        rows.append(row(code.label, PLAIN_BESIDE, 4, *plain_load))
        rows.append(row(code.label, rerank_beside_row(delay_ms), 8, *rerank_load))
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


def embeddings_benchmark(code: Code, model: Path, texts: list[str], requests: int, infinity: str | None, tmp: Path) -> list[tuple]:
    rows = []
    bodies = [{"input": texts[i % len(texts)] + f" #{i}", "model": "default"} for i in range(requests)]  # no cache hits
    data_dir = tmp / "embed-index"
    code.run("-m", "shopsearch.cli.main", "index", str(ROOT / "tests" / "fixtures" / "icecat_slice.json.zip"),
             "--data-dir", str(data_dir), "--embedding-model", f"st:{model}", check=True, capture_output=True)
    url, process = serve(code, data_dir, "--embedding-model", f"st:{model}", "--cache", "none", log="embeddings")
    try:
        rows += measure(code.label, "embeddings, shopsearch", url, bodies, "/v1/embeddings", bodies[:64])
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
        rows += measure("-", "embeddings, infinity-emb", url, bodies, "/embeddings", bodies[:64])
    finally:
        stop(process)
    return rows


def search_rows(args, queries: list[str], new: Code, old: Code | None, tmp: Path) -> list[tuple]:
    """Plain, cached and rerank rows on this checkout; plain and rerank rows on the baseline, alternating."""
    data_dir = (args.data_dir or tmp / "icecat").resolve()
    catalogue = [p.resolve() for p in args.catalogue] if args.catalogue else sorted(ICECAT.resolve().glob("*.json.zip"))
    if not (data_dir / "catalogue.sqlite").exists():
        print(f"indexing {len(catalogue)} file(s) into {data_dir} with the new code", flush=True)
        new.index(catalogue, data_dir)
    reranker_url, reranker = start_reranker(args.rerank_delay_ms)
    print(f"slow reranker: {reranker_url}/v1/rerank, {args.rerank_delay_ms:g} ms per call (pid {reranker.pid})", flush=True)
    rows = []
    try:
        # Plain rows in rounds, the order alternating (new, old; old, new; ...): the machine's speed drifts
        # over minutes, and whichever ran first would otherwise carry the drift. Each figure is the mean.
        plain: list[tuple] = []
        old_dir = data_dir
        for round_ in range(args.rounds):
            for code in ([new, old] if round_ % 2 == 0 else [old, new]):
                if code is None:
                    continue
                try:
                    plain += search_benchmark(code, data_dir if code is new else old_dir, queries, args.requests,
                                              caches=("none",))
                except ServerExited as exc:
                    if code is new or old_dir != data_dir:
                        raise
                    old_dir = tmp / "icecat-old"
                    print(f"the old code cannot serve {data_dir} ({exc}): indexing a copy, {old_dir}, with the old code "
                          f"from {len(catalogue)} file(s); the old rows use that copy", flush=True)
                    old.index(catalogue, old_dir)
                    plain += search_benchmark(old, old_dir, queries, args.requests, caches=("none",))
        rows += mean_rows(plain)
        rows += rerank_benchmark(new, data_dir, queries, args.beside_requests, args.rerank_requests, reranker_url,
                                 args.rerank_delay_ms)
        if old is not None:
            rows += rerank_benchmark(old, old_dir, queries, args.beside_requests, args.rerank_requests, reranker_url,
                                     args.rerank_delay_ms)
        rows += search_benchmark(new, data_dir, queries, args.requests, caches=("memory",))
    finally:
        stop(reranker)
    return rows


def mean_rows(rows: list[tuple]) -> list[tuple]:
    """Rows of the same (code, what, concurrency) merged: mean requests/s, p50 and p99."""
    groups: dict[tuple, list[tuple]] = {}
    for r in rows:
        groups.setdefault(r[:3], []).append(r[3:])
    return [(*key, *np.mean(np.asarray(values), axis=0).tolist()) for key, values in groups.items()]


def report(rows: list[tuple], args, baseline: bool) -> None:
    print(f"\n{os.cpu_count()} cores; {args.requests} requests per plain row (cache none: the mean of {args.rounds} "
          f"rounds, old and new alternating first); rerank rows: {args.rerank_requests} "
          f"searches at concurrency 1, {4 * args.rerank_requests} at 8, rerank_depth {RERANK_DEPTH}, "
          f"a {args.rerank_delay_ms:g} ms reranker; {args.beside_requests} plain searches alone and beside them\n")
    print("| code | what | concurrency | requests/s | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for code, name, concurrency, rate, p50, p99 in rows:
        print(f"| {code} | {name} | {concurrency} | {rate:,.1f} | {p50:.1f} | {p99:.1f} |")
    figures = {(code, name, c): (rate, p50, p99) for code, name, c, rate, p50, p99 in rows}
    ours = {c: (r, p99) for (code, n, c), (r, _, p99) in figures.items() if n == "embeddings, shopsearch"}
    theirs = {c: (r, p99) for (code, n, c), (r, _, p99) in figures.items() if n == "embeddings, infinity-emb"}
    for concurrency in sorted(set(ours) & set(theirs)):
        print(f"concurrency {concurrency}: shopsearch / infinity-emb throughput {ours[concurrency][0] / theirs[concurrency][0]:.2f}x, "
              f"p99 {ours[concurrency][1]:.1f} vs {theirs[concurrency][1]:.1f} ms")
    rerank, rerank_beside = rerank_row(args.rerank_delay_ms), rerank_beside_row(args.rerank_delay_ms)
    if not any(name == rerank for _, name, *_ in rows):
        return
    codes = ["old", "new"] if baseline else ["new"]
    if baseline:
        print("\nold (--baseline-src) and new (this checkout) side by side:\n")
        print("| what | concurrency | old req/s | new req/s | new/old | old p50 ms | new p50 ms | old p99 ms | new p99 ms |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in (PLAIN, rerank, PLAIN_ALONE, PLAIN_BESIDE, rerank_beside):
            for c in sorted({c for code, n, c in figures if n == name}):
                if ("old", name, c) in figures and ("new", name, c) in figures:
                    (ro, p50o, p99o), (rn, p50n, p99n) = figures["old", name, c], figures["new", name, c]
                    print(f"| {name} | {c} | {ro:,.1f} | {rn:,.1f} | {rn / ro:.2f}x | {p50o:.1f} | {p50n:.1f} | "
                          f"{p99o:.1f} | {p99n:.1f} |")
    print("\nGoals:")
    scaling = {code: figures[code, rerank, 8][0] / figures[code, rerank, 1][0] for code in codes}
    print("- search + rerank, requests/s at concurrency 8 / 1: "
          + ", ".join(f"{code} {x:.2f}x" for code, x in scaling.items())
          + f" (goal >= 5x: {'met' if scaling['new'] >= 5 else 'MISSED'})")
    spread = {code: (figures[code, PLAIN_BESIDE, 4][2], figures[code, PLAIN_ALONE, 4][2]) for code in codes}
    ratio = {code: beside / alone for code, (beside, alone) in spread.items()}
    print("- plain search p99 beside 8 rerank searches / alone (concurrency 4): "
          + ", ".join(f"{code} {b:.1f} / {a:.1f} ms = {ratio[code]:.2f}x" for code, (b, a) in spread.items())
          + f" (goal <= 2x: {'met' if ratio['new'] <= 2 else 'MISSED'})")
    if baseline:
        kept = {c: figures["new", PLAIN, c][0] / figures["old", PLAIN, c][0] for c in (1, 8, 32)}
        print("- plain search (cache none) requests/s new / old: "
              + ", ".join(f"c{c} {x:.2f}x" for c, x in kept.items())
              + " (goal: not lower; " + ("met)" if min(kept.values()) >= 1 else
                                         "below 1.00x at " + ", ".join(f"c{c}" for c, x in kept.items() if x < 1)
                                         + ": a few % is run-to-run noise, more --requests tells it from a loss)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None, help="an index of the catalogue (built if absent)")
    parser.add_argument("--catalogue", type=Path, nargs="+", default=None,
                        help="files to index when the data directory is built (default: the four Icecat files)")
    parser.add_argument("--requests", type=int, default=800, help="requests per plain row (and per embeddings row)")
    parser.add_argument("--rerank-requests", type=int, default=40,
                        help="rerank searches at concurrency 1 (4x as many at 8); each takes --rerank-delay-ms or more")
    parser.add_argument("--beside-requests", type=int, default=None,
                        help="plain searches in the alone / beside-rerank rows (default: --requests, at most 200)")
    parser.add_argument("--rerank-delay-ms", type=float, default=200.0, help="the fake reranker's time per call")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of the plain cache-none rows, old and new alternating first (figures: the mean)")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="an old commit's tree (its src/ or a checkout root holding src/): its search rows beside ours")
    parser.add_argument("--infinity", default=None, help="path to the infinity_emb executable (its own virtualenv)")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-embeddings", action="store_true", help="leave out the embeddings rows (torch, minutes)")
    args = parser.parse_args()
    if args.beside_requests is None:
        args.beside_requests = min(args.requests, 200)

    new = Code.at("new", ROOT)
    old = Code.at("old", args.baseline_src) if args.baseline_src else None
    if old is not None and args.skip_search:
        print("--baseline-src is used by the search rows only; --skip-search leaves it unused")
    for code in (new, old):
        if code is not None:
            code.check()
    queries = sorted({row["query"] for row in csv.DictReader(open(ICECAT / "Broad_Query_Set_rated.csv"))})
    tmp = Path(tempfile.mkdtemp(prefix="shopsearch-bench-serve-"))
    rows = []
    if not args.skip_search:
        rows += search_rows(args, queries, new, old, tmp)
    if not args.skip_embeddings:
        from shopsearch.index.ingest import FieldMapping, read_items
        from shopsearch.index.items import Item

        texts = [it.embedding_text() for _, it in read_items([ROOT / "tests" / "fixtures" / "icecat_slice.json.zip"],
                                                            FieldMapping.parse(["brand=supplier", "description=name,short_description"]))
                 if isinstance(it, Item)]
        model = build_model(tmp / "model", texts)
        rows += embeddings_benchmark(new, model, texts, args.requests, args.infinity, tmp)
    report(rows, args, baseline=old is not None and not args.skip_search)


if __name__ == "__main__":
    main()
