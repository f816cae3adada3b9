"""Search at concurrency 1, old commit against this checkout, with the servers' requests interleaved.

Run:
    python benchmarks/bench_serve_c1.py --data-dir DIR --baseline-src OLD_TREE [--servers 2] [--requests 400]

At concurrency 1 one server process of the same code differs from the next by up to 30% on a
2-core machine, and the machine's speed drifts over minutes, so rows measured one server after
another (bench_serve.py) cannot tell a few % apart. Here `--servers` processes of each code run
at once over the same data directory (the first holds its write lock, the others read), and one
client sends one request at a time, to each server in turn, in a fresh random order every
cycle: every server sees the same machine at the same moments, and nothing runs beside the
request being timed. A server's requests/s at concurrency 1 is 1000 / its mean latency; the
table gives each server's, and each code's over its servers, and new / old.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import ICECAT, ROOT, Code, plain_bodies, serve, stop  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="an index of the Icecat catalogue")
    parser.add_argument("--baseline-src", type=Path, required=True, help="an old commit's tree (src/ or a checkout root)")
    parser.add_argument("--servers", type=int, default=2, help="server processes per code")
    parser.add_argument("--requests", type=int, default=400, help="timed requests per server")
    parser.add_argument("--extra", nargs="*", default=["--cache", "none"], help="arguments for every server")
    args = parser.parse_args()
    codes = [Code.at("new", ROOT), Code.at("old", args.baseline_src)]
    for code in codes:
        code.check()
    queries = sorted({row["query"] for row in csv.DictReader(open(ICECAT / "Broad_Query_Set_rated.csv"))})
    bodies = plain_bodies(queries, len(queries))
    servers = []
    try:
        for i in range(args.servers):
            for code in codes:
                url, process = serve(code, args.data_dir.resolve(), *args.extra, log=f"c1-{code.label}-{i}")
                servers.append((code.label, i, httpx.Client(base_url=url, timeout=60), process))
        rng = random.Random(0)
        latencies: dict[tuple[str, int], list[float]] = {(label, i): [] for label, i, _, _ in servers}
        for cycle in range(-len(queries), args.requests):  # the first pass over the queries warms every server
            order = servers[:]
            rng.shuffle(order)
            for label, i, client, _ in order:
                body = bodies[cycle % len(bodies)]
                started = time.perf_counter()
                response = client.post("/v1/search", json=body)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{label} server {i} answered {response.status_code}: {response.text[:200]}")
                if cycle >= 0:
                    latencies[label, i].append(elapsed)
    finally:
        for _, _, client, process in servers:
            client.close()
            stop(process)

    print(f"\n{args.servers} servers per code, {args.requests} timed requests each, interleaved one at a time\n")
    print("| code | server | requests/s | mean ms | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    per_code: dict[str, list[float]] = {}
    for (label, i), values in sorted(latencies.items()):
        mean = statistics.fmean(values)
        per_code.setdefault(label, []).extend(values)
        p99 = statistics.quantiles(values, n=100)[98]
        print(f"| {label} | {i} | {1000 / mean:.1f} | {mean:.2f} | {statistics.median(values):.2f} | {p99:.2f} |")
    rate = {label: 1000 / statistics.fmean(values) for label, values in per_code.items()}
    for label, value in rate.items():
        print(f"| {label} | all | {value:.1f} | {1000 / value:.2f} | {statistics.median(per_code[label]):.2f} | |")
    print(f"\nnew / old requests/s at concurrency 1: {rate['new'] / rate['old']:.3f}x (goal: not lower)")


if __name__ == "__main__":
    main()
