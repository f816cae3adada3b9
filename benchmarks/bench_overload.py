"""Overload: twice the search load the server can take, with the in-flight limit (the default) and without it.

Run:
    python benchmarks/bench_overload.py --data-dir DIR [--seconds 60] [--limit 64]

DIR is an index of the Icecat catalogue (bench_serve.py builds one). Each server runs with
`--cache none` (no cached answers) over the 95 judged queries, each with one of 40 words added
(long-tail queries: almost every search embeds its query, as most shoppers' searches do), hybrid, k=24
with facets (a result page as a shop shows it):
1. capacity C: searches/s at concurrency 16, closed loop, after a warm-up;
2. open loop (Poisson arrivals, as shoppers come, whatever the server's pace), three phases:
   calm at 0.5 C (--calm-seconds), overload at 2 C (--seconds), calm again (--calm-seconds).
Per phase: answers by status, p50/p99 of the admitted (200) searches, p99 of the refusals, the
share refused, whether every 429 carried Retry-After, and the server's peak RSS.
The same run is made on a server started with SHOPSEARCH_SERVE__MAX_IN_FLIGHT=0 and
SHOPSEARCH_SERVE__MAX_RUNNING=0 (no admission control), the baseline: without a bound, the excess waits in the server and every answer grows late.
Goals: with the limit, admitted p99 in the overload stays bounded (reported against the calm
p99 and the unlimited server's), the rest are 429 with Retry-After, RSS stays bounded, and the
calm phase after it answers like the calm phase before (no 429, p99 within 1.5x).
The server is pinned to the first half of the CPUs (--server-cpus) and this load generator to the
rest: on two cores a Python client beside the server would take the CPU it measures, and could
not offer twice what the server answers. Servers are stopped by PID; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import ICECAT, ROOT, Code, free_port, load, log_file, stop, wait_ready  # noqa: E402
from bench_soak import rss_mib  # noqa: E402
from tables import print_table  # noqa: E402


async def open_loop(url: str, pid: int, bodies: list[dict], rate: float, seconds: float, rng: random.Random) -> dict:
    admitted: list[float] = []
    refused: list[float] = []
    statuses: Counter = Counter()
    missing_retry_after = 0
    peak_rss = rss_mib(pid)
    tasks: set[asyncio.Task] = set()
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so that none is reused as the server closes it.
    limits = httpx.Limits(max_connections=1024, max_keepalive_connections=256, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def one(body: dict) -> None:
            nonlocal missing_retry_after
            started = time.perf_counter()
            try:
                response = await client.post("/v1/search", json=body)
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                return
            took = (time.perf_counter() - started) * 1000
            statuses[response.status_code] += 1
            if response.status_code == 200:
                admitted.append(took)
            elif response.status_code == 429:
                refused.append(took)
                missing_retry_after += "retry-after" not in response.headers

        deadline = time.perf_counter() + seconds
        sampled = due = time.perf_counter()
        sent = 0
        while time.perf_counter() < deadline:
            task = asyncio.create_task(one(bodies[sent % len(bodies)]))
            sent += 1
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if time.perf_counter() - sampled > 1:
                peak_rss, sampled = max(peak_rss, rss_mib(pid)), time.perf_counter()
            # Arrivals on an absolute schedule: a late wake-up sends what fell due at once, so the
            # offered rate holds however slow this client's own turns are.
            due += rng.expovariate(rate)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        while tasks:  # what is still in the air belongs to this phase
            peak_rss = max(peak_rss, rss_mib(pid))
            await asyncio.wait(set(tasks), timeout=1)
    total = sum(statuses.values())
    p50, p99 = np.percentile(admitted, [50, 99]) if admitted else (float("nan"),) * 2
    return {"sent": sent, "rate": rate, "statuses": dict(statuses), "p50": float(p50), "p99": float(p99),
            "refused_p99": float(np.percentile(refused, 99)) if refused else float("nan"),
            "refused_share": len(refused) / total if total else 0.0, "retry_after_missing": missing_retry_after,
            "peak_rss": peak_rss, "answered_per_s": len(admitted) / seconds}


WORDS = ("cheap", "black", "white", "new", "pro", "mini", "wireless", "for kids", "for office", "2024", "best",
         "small", "large", "silver", "blue", "red", "usb", "portable", "premium", "gift", "set", "pack", "kit",
         "original", "compatible", "replacement", "fast", "slim", "light", "heavy duty", "home", "travel", "gaming",
         "hd", "4k", "long", "short", "metal", "plastic", "eco")


def long_tail(queries: list[str], n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"query": f"{rng.choice(queries)} {rng.choice(WORDS)}", "k": 24, "facets": True} for _ in range(n)]


def run_server(code: Code, data_dir: Path, bodies: list[dict], args, limit: int, capacity: float | None) -> tuple[float, list[dict]]:
    os.environ["SHOPSEARCH_SERVE__MAX_IN_FLIGHT"] = str(limit)
    if not limit:
        os.environ["SHOPSEARCH_SERVE__MAX_RUNNING"] = "0"
    port = free_port()
    with log_file(f"overload-{limit}") as out:
        process = code.popen("-m", "shopsearch.cli.main", "serve", "--data-dir", str(data_dir), "--port", str(port),
                             "--cache", "none", stdout=out, stderr=subprocess.STDOUT,
                             preexec_fn=lambda: os.sched_setaffinity(0, args.server_cpus))
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, "/ready", log=out.name)
    try:
        asyncio.run(load(url, bodies[-95:], 4, "/v1/search"))  # warm-up
        if capacity is None:
            rate, _ = asyncio.run(load(url, bodies[-args.requests - 95:-95], 16, "/v1/search"))
            capacity = rate
            print(f"capacity: {capacity:.1f} searches/s at concurrency 16 (limit {limit})", flush=True)
        rng = random.Random(args.seed)
        phases = []
        for name, factor, seconds in (("calm", 0.5, args.calm_seconds), ("overload", 2.0, args.seconds),
                                      ("calm after", 0.5, args.calm_seconds)):
            phase = asyncio.run(open_loop(url, process.pid, bodies, factor * capacity, seconds, rng))
            phase["name"], phase["limit"] = name, limit
            print(phase, flush=True)
            phases.append(phase)
        phases[-1]["end_rss"] = rss_mib(process.pid)
    finally:
        stop(process)
        os.environ.pop("SHOPSEARCH_SERVE__MAX_IN_FLIGHT", None)
        os.environ.pop("SHOPSEARCH_SERVE__MAX_RUNNING", None)
    return capacity, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60, help="length of the overload phase")
    parser.add_argument("--calm-seconds", type=float, default=30, help="length of each calm phase")
    parser.add_argument("--limit", type=int, default=64, help="max_in_flight of the limited server")
    parser.add_argument("--requests", type=int, default=600, help="searches measuring the capacity")
    parser.add_argument("--bodies", type=int, default=20_000, help="distinct search bodies cycled by the open loop")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--server-cpus", type=lambda text: {int(c) for c in text.split(",")}, default=None,
                        help="CPUs the server runs on, comma-separated (default: the first half; the client gets the rest)")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if args.server_cpus is None:
        args.server_cpus = set(cpus[: max(len(cpus) // 2, 1)])
    client_cpus = set(cpus) - args.server_cpus or set(cpus)
    os.sched_setaffinity(0, client_cpus)
    print(f"server on CPUs {sorted(args.server_cpus)}, load generator on {sorted(client_cpus)}", flush=True)
    queries = sorted({row["query"] for row in csv.DictReader(open(ICECAT / "Broad_Query_Set_rated.csv"))})
    bodies = long_tail(queries, args.bodies, args.seed)
    code = Code.at("new", ROOT)
    capacity, limited = run_server(code, args.data_dir, bodies, args, args.limit, None)
    _, unlimited = run_server(code, args.data_dir, bodies, args, 0, capacity)
    rows = []
    for phase in limited + unlimited:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(phase["statuses"].items(), key=str))
        rows.append((phase["limit"] or "none", phase["name"], f"{phase['rate']:.0f}", phase["answered_per_s"],
                     phase["p50"], phase["p99"], phase["refused_p99"], f"{phase['refused_share']:.0%}",
                     phase["retry_after_missing"], phase["peak_rss"], statuses))
    print_table(f"Overload: capacity {capacity:.1f} searches/s; calm 0.5x, overload 2x, calm 0.5x (open loop)",
                ["in-flight limit", "phase", "offered/s", "answered/s", "p50 ms", "p99 ms", "429 p99 ms", "refused",
                 "429 without Retry-After", "peak RSS MiB", "answers"], rows)
    calm, overload, after = limited
    print_table("Goals (the limited server)", ["goal", "measured", "met"], [
        ("admitted p99 in overload, bounded", f"{overload['p99']:.0f} ms (no limit: {unlimited[1]['p99']:.0f} ms; calm: {calm['p99']:.0f} ms)",
         "yes" if overload["p99"] < unlimited[1]["p99"] else "NO"),
        ("the rest refused with 429 + Retry-After", f"{overload['refused_share']:.0%} refused, "
         f"{overload['retry_after_missing']} without Retry-After, other: "
         f"{sum(v for k, v in overload['statuses'].items() if k not in (200, 429))}",
         "yes" if overload["refused_share"] > 0 and not overload["retry_after_missing"]
         and set(overload["statuses"]) <= {200, 429} else "NO"),
        ("memory bounded", f"peak {max(p['peak_rss'] for p in limited):.0f} MiB, "
         f"{after['end_rss']:.0f} MiB at the end (no limit: peak {max(p['peak_rss'] for p in unlimited):.0f} MiB)", "see"),
        ("recovers: calm after answers like calm before", f"p99 {after['p99']:.0f} vs {calm['p99']:.0f} ms, "
         f"{after['statuses'].get(429, 0)} refused", "yes" if after["p99"] <= 1.5 * calm["p99"] and not after["statuses"].get(429) else "NO"),
    ])


if __name__ == "__main__":
    main()
