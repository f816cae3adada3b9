"""A model migration under load: do searches and writes fail while another model's vectors are built and swapped in?

Run:
    python benchmarks/bench_migration.py [--to e5-nano] [--search-rate 20] [--write-rate 5]

The bundled 400-item sample is indexed with the default model; then two `shopsearch serve`
processes run on it, the writer and a --read-only replica. Open-loop load starts: hybrid searches
at --search-rate a second, half to each server, and new items at --write-rate a second to the
writer. After a calm phase, `shopsearch migrate --embedding-model TO --force` runs beside them,
judged on known-item queries (each of 40 products' own title words, the product relevant): it
builds the new vectors while both servers answer, evaluates both models, and asks the writer to
swap. The load goes on until the replica has followed the swap, then for a calm phase more.

Printed: per phase (before, build, swap, after) the searches and writes answered, those that
failed (any answer but 200, or a timeout), and search p50/p99; the migration's own timings and
evaluations; which model each server answers with at the end; and whether every item written
during the run is found by a vector search on both servers after the swap. Goal (issue 17): zero
failed searches. Both servers are stopped by PID; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_replica import SAMPLE  # noqa: E402
from bench_serve import ROOT, Code, serve, stop  # noqa: E402
from tables import print_table  # noqa: E402

CALM_S = 15.0
TIMEOUT_S = 10.0


class Phases:
    """What the load saw, by the phase it was sent in."""

    def __init__(self) -> None:
        self.current = "before"
        self.searches: dict[str, list[float]] = {}
        self.search_failures: dict[str, list[str]] = {}
        self.writes: dict[str, int] = {}
        self.write_failures: dict[str, list[str]] = {}

    def start(self, phase: str) -> None:
        self.current = phase
        print(f"{time.strftime('%H:%M:%S')} phase: {phase}", flush=True)


async def search_once(client: httpx.AsyncClient, url: str, query: str, phases: Phases) -> None:
    phase, started = phases.current, time.perf_counter()
    try:
        answer = await client.post(f"{url}/v1/search", json={"query": query, "mode": "hybrid", "k": 10})
        ok = answer.status_code == 200 and not answer.json().get("degraded")
        why = f"{answer.status_code} {answer.text[:200]}"
    except httpx.HTTPError as exc:
        ok, why = False, repr(exc)
    phases.searches.setdefault(phase, []).append((time.perf_counter() - started) * 1000)
    if not ok:
        phases.search_failures.setdefault(phase, []).append(why)


async def write_once(client: httpx.AsyncClient, url: str, item: dict, phases: Phases) -> None:
    phase = phases.current
    try:
        answer = await client.post(f"{url}/v1/catalog/items", json={"items": [item]})
        ok, why = answer.status_code == 200, f"{answer.status_code} {answer.text[:200]}"
    except httpx.HTTPError as exc:
        ok, why = False, repr(exc)
    phases.writes[phase] = phases.writes.get(phase, 0) + 1
    if not ok:
        phases.write_failures.setdefault(phase, []).append(why)


async def load(writer: str, replica: str, queries: list[str], catalogue: list[dict], search_rate: float,
               write_rate: float, phases: Phases, done: asyncio.Event, written: list[dict]) -> None:
    """Open loop: requests are sent on schedule whether or not earlier ones have answered."""
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=httpx.Limits(max_connections=64)) as client:
        tasks: set[asyncio.Task] = set()
        started, sent_searches, sent_writes = time.perf_counter(), 0, 0
        while not done.is_set():
            elapsed = time.perf_counter() - started
            while sent_searches < elapsed * search_rate:
                url = writer if sent_searches % 2 == 0 else replica
                tasks.add(asyncio.create_task(search_once(client, url, queries[sent_searches % len(queries)], phases)))
                sent_searches += 1
            while sent_writes < elapsed * write_rate:
                base = catalogue[sent_writes % len(catalogue)]
                item = {**base, "id": f"migration-{sent_writes}", "title": f"{base['title']} edition {sent_writes}"}
                written.append(item)
                tasks.add(asyncio.create_task(write_once(client, writer, item, phases)))
                sent_writes += 1
            tasks = {t for t in tasks if not t.done()}
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)


async def model_of(url: str) -> str:
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        return (await client.get(f"{url}/v1/models")).json()["data"][0]["id"]


async def found_by_vector(url: str, items: list[dict]) -> int:
    """How many items a vector search for their own title puts in its top 10 (they exist in the new vector space)."""
    found = 0
    async with httpx.AsyncClient(timeout=30) as client:
        for item in items:
            answer = (await client.post(f"{url}/v1/search", json={"query": item["title"], "mode": "vector", "k": 10})).json()
            found += item["id"] in {hit["id"] for hit in answer["results"]}
    return found


async def run(args, code: Code, data: Path, writer: str, replica: str, catalogue: list[dict], judged: Path) -> dict:
    phases, done, written = Phases(), asyncio.Event(), []
    queries = [item["title"].split(" ", 3)[-1][:60] for item in catalogue[:200]]
    traffic = asyncio.create_task(load(writer, replica, queries, catalogue, args.search_rate, args.write_rate,
                                       phases, done, written))
    await asyncio.sleep(CALM_S)
    phases.start("build")
    started = time.perf_counter()
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shopsearch.cli.main", "migrate", "--data-dir", str(data), "--embedding-model", args.to,
        "--judgments", str(judged), "--force", env={**code.env(), "PYTHONUNBUFFERED": "1"}, cwd=code.src,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert migrate.stdout is not None
    output = []
    while line := (await migrate.stdout.readline()).decode():
        output.append(line.rstrip())
        if line.startswith("multilingual") or "judged queries" in line:
            phases.start("swap")  # evaluated: the swap request comes next
    await migrate.wait()
    migrated_s = time.perf_counter() - started
    swapped_model = await model_of(writer)
    while await model_of(replica) != swapped_model and time.perf_counter() - started < migrated_s + 60:
        await asyncio.sleep(0.2)
    followed_s = time.perf_counter() - started
    phases.start("after")
    await asyncio.sleep(CALM_S)
    done.set()
    await traffic
    await asyncio.sleep(1.0)  # the replica follows the last writes
    sample = written[:: max(1, len(written) // 40)]
    return {"phases": phases, "output": output, "returncode": migrate.returncode, "migrated_s": migrated_s,
            "followed_s": followed_s, "models": (swapped_model, await model_of(replica)),
            "found": (await found_by_vector(writer, sample), await found_by_vector(replica, sample), len(sample))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--to", default="e5-nano", help="the model to migrate to")
    parser.add_argument("--search-rate", type=float, default=20.0, help="searches a second, half to each server")
    parser.add_argument("--write-rate", type=float, default=5.0, help="new items a second to the writer")
    args = parser.parse_args()
    code = Code.at("new", ROOT)
    tmp = Path(tempfile.mkdtemp(prefix="shopsearch-bench-migration-"))
    data = tmp / "data"
    code.run("-m", "shopsearch.cli.main", "index", str(SAMPLE), "--data-dir", str(data), capture_output=True)
    catalogue = [json.loads(line) for line in gzip.open(SAMPLE, "rt", encoding="utf-8")]
    judged = tmp / "known-items.csv"
    judged.write_text("query,docid,rating\n" + "".join(
        f"{' '.join(item['title'].replace(',', ' ').split()[:6])},{item['id']},2\n" for item in catalogue[:40]))
    processes = []
    try:
        writer_url, writer = serve(code, data, "--cache", "none", log="migration-writer")
        processes.append(writer)
        replica_url, replica = serve(code, data, "--cache", "none", "--read-only", log="migration-replica")
        processes.append(replica)
        result = asyncio.run(run(args, code, data, writer_url, replica_url, catalogue, judged))
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(result["output"]))
    phases: Phases = result["phases"]
    rows = []
    for phase in ("before", "build", "swap", "after"):
        times = np.asarray(phases.searches.get(phase, [0.0]))
        rows.append((phase, len(phases.searches.get(phase, [])), len(phases.search_failures.get(phase, [])),
                     f"{np.percentile(times, 50):.0f}", f"{np.percentile(times, 99):.0f}", phases.writes.get(phase, 0),
                     len(phases.write_failures.get(phase, []))))
    print_table(f"Migration to {args.to} under load ({args.search_rate:g} searches/s, {args.write_rate:g} writes/s): "
                f"migrate exited {result['returncode']} after {result['migrated_s']:.1f} s, the replica followed "
                f"at {result['followed_s']:.1f} s",
                ["phase", "searches", "failed", "p50 ms", "p99 ms", "writes", "failed writes"], rows)
    for kind, failures in (("search", phases.search_failures), ("write", phases.write_failures)):
        for phase, whys in failures.items():
            print(f"{kind} failures in {phase}: {whys[:3]}")
    writer_found, replica_found, sampled = result["found"]
    print(f"models answering at the end: writer {result['models'][0]}, replica {result['models'][1]}")
    print(f"items written during the run found by vector search for their title after the swap: "
          f"writer {writer_found}/{sampled}, replica {replica_found}/{sampled}")
    failed = sum(len(v) for v in phases.search_failures.values())
    print(f"goal, zero failed searches: {'met' if failed == 0 else f'NOT met ({failed})'}")


if __name__ == "__main__":
    main()
