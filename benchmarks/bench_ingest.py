"""Batch ingestion through remote embedding endpoints: one replica vs two, against embedding in-process.

Run: python benchmarks/bench_ingest.py [--items 4000] [--threads-per-replica 1]

Starts two `shopsearch serve` replicas on 127.0.0.1 (the default model), then
indexes the same Icecat products three ways into fresh data directories:
in-process (the default model in the indexing process), through replica A
(`--embedding-model openai:URL_A#default`), and through both
(`openai:URL_A,URL_B#default`: each endpoint keeps two batches in flight).
A fourth run repeats the two-replica command over its finished directory:
every item is already indexed, so it measures the resume path (no model calls).
Each replica is pinned to `--threads-per-replica` model threads so that two
replicas do not fight over the same cores; on a machine with one GPU per
replica, the endpoints would be separate machines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import ICECAT, ROOT, free_port, log_file, stop, wait_ready  # noqa: E402

MAPPING = ["--map", "brand=supplier", "--map", "description=name,short_description", "--price-scale", "0.01"]


def sample(items: int, folder: Path) -> Path:
    """The first `items` Icecat products as one JSONL file."""
    out = folder / "products.jsonl"
    written = 0
    with out.open("w") as sink:
        for archive in sorted(ICECAT.glob("*.json.zip")):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    for record in json.loads(z.read(name)):
                        sink.write(json.dumps(record) + "\n")
                        written += 1
                        if written == items:
                            return out
    return out


def replica(folder: Path, name: str, threads: int) -> tuple[str, subprocess.Popen]:
    data = folder / f"replica-{name}"
    subprocess.run([sys.executable, "-m", "shopsearch.cli.main", "index", str(ROOT / "tests" / "fixtures" / "icecat_slice.json.zip"),
                    "--data-dir", str(data), *MAPPING], check=True, capture_output=True)
    port = free_port()
    env = {**os.environ, "SHOPSEARCH_MODEL__THREADS": str(threads), "SHOPSEARCH_SERVE__CACHE": "none"}
    process = subprocess.Popen([sys.executable, "-m", "shopsearch.cli.main", "serve", "--data-dir", str(data), "--port", str(port)],
                               stdout=log_file(f"ingest-{name}"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, "/ready")
    return url + "/v1", process


def index(products: Path, data: Path, *model: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "shopsearch.cli.main", "index", str(products), "--data-dir", str(data),
                             *MAPPING, *model], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    return elapsed, result.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--threads-per-replica", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shopsearch-bench-ingest-"))
    products = sample(args.items, tmp)
    replicas = [replica(tmp, name, args.threads_per_replica) for name in ("a", "b")]
    rows = []
    try:
        (url_a, _), (url_b, _) = replicas
        runs = [("in-process (default model)", "local", []),
                ("1 replica", "one", ["--embedding-model", f"openai:{url_a}#default"]),
                ("2 replicas", "two", ["--embedding-model", f"openai:{url_a},{url_b}#default"]),
                ("2 replicas, re-run (all already indexed)", "two", ["--embedding-model", f"openai:{url_a},{url_b}#default"])]
        for label, directory, model in runs:
            elapsed, summary = index(products, tmp / directory, *model)
            rows.append((label, elapsed, args.items / elapsed, summary))
            print(*rows[-1], flush=True)
    finally:
        for _, process in replicas:
            stop(process)
    print(f"\n{os.cpu_count()} cores; {args.items} Icecat products; {args.threads_per_replica} model thread(s) per replica\n")
    print("| how | seconds | items/s | last line |")
    print("|---|---:|---:|---|")
    for label, elapsed, rate, summary in rows:
        print(f"| {label} | {elapsed:.1f} | {rate:,.0f} | {summary} |")
    print(f"\n2 replicas / 1 replica: {rows[2][2] / rows[1][2]:.2f}x")


if __name__ == "__main__":
    main()
