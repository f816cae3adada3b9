"""Replica lag: how long after the writer acknowledges a new item a read-only replica's search finds it.

Run:
    python benchmarks/bench_replica.py [--rate 50] [--seconds 60] [--embedding-model default]

Two `shopsearch serve` processes on one data directory (the bundled 400-item sample, indexed
first): the writer, and a replica started with --read-only. The writer takes --rate new items a
second (batches of 10 through POST /v1/catalog/items, each title with a word of its own); a prober
searches the replica every 20 ms for the words of every item not yet seen (one keyword search), and
an item's lag is from the writer's acknowledgement to the answer that first has it. One item in ten
is also looked for by hybrid search (its query embedded on the replica). The goal: p99 lag
<= 1 s at 50 items/s. Both servers are stopped by PID; all traffic stays on 127.0.0.1.

The writer's embedding decides whether it can take 50 items/s at all (the default model embeds
about 47 items/s on one of these cores, titles and descriptions of the sample); the table says the
rate it reached. The replica's path does not depend on the model.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import ROOT, Code, serve, stop  # noqa: E402
from tables import print_table  # noqa: E402

SAMPLE = ROOT / "src" / "shopsearch" / "data" / "sample_catalogue.jsonl.gz"
BATCH = 10
POLL_S = 0.02
GIVE_UP_S = 10.0


def word_of(serial: int) -> str:
    """A word no product has that the analyser keeps whole: letters only ("zqx10" would split into model-number
    parts), all of one length and ending in x, so that no stemmer makes two of them one ("zqiie" -> "zqii")."""
    letters = ""
    for _ in range(4):
        serial, digit = divmod(serial, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[digit]
    return f"zq{letters}x"


async def watch(client: httpx.AsyncClient, replica: str, pending: dict[str, tuple[str, float]], lags: list[float],
                mode: str, done: asyncio.Event) -> None:
    """Poll the replica for every pending item at once (one search naming their words) until each shows up."""
    while not (done.is_set() and not pending):
        batch = list(pending.items())[:40]
        if batch:
            query = " ".join(word for word, _ in (entry for _, entry in batch))
            answer = (await client.post(f"{replica}/v1/search", json={"query": query, "mode": mode, "k": 200,
                                                                      "understand": False})).json()
            found, now = {hit["id"] for hit in answer.get("results", [])}, time.perf_counter()
            for item_id, (_, acked) in batch:
                if item_id in found:
                    lags.append(now - acked)
                    del pending[item_id]
                elif now - acked > GIVE_UP_S:
                    lags.append(float("inf"))
                    print(f"not seen by {mode} search in {GIVE_UP_S:g} s: {item_id} ({pending[item_id][0]})", flush=True)
                    del pending[item_id]
        await asyncio.sleep(POLL_S)


async def run(writer: str, replica: str, rate: float, seconds: float, catalogue: list[dict]) -> dict[str, list[float]]:
    lags: dict[str, list[float]] = {"keyword": [], "hybrid": []}
    pending: dict[str, dict[str, tuple[str, float]]] = {"keyword": {}, "hybrid": {}}
    serial = 0
    done = asyncio.Event()
    async with httpx.AsyncClient(timeout=30) as client:
        watchers = [asyncio.create_task(watch(client, replica, pending[m], lags[m], m, done)) for m in pending]
        started = time.perf_counter()
        due = started
        while time.perf_counter() - started < seconds:
            items = []
            for _ in range(BATCH):
                serial += 1
                base = dict(catalogue[serial % len(catalogue)])
                items.append({**base, "id": f"replica-{serial}", "title": f"{base['title']} {word_of(serial)}"})
            answer = await client.post(f"{writer}/v1/catalog/items", json={"items": items})
            acked = time.perf_counter()
            answer.raise_for_status()
            for item in items:
                number = int(item["id"].rsplit("-", 1)[1])
                # Every item by keyword; one in ten by hybrid too (its query embeds on the replica).
                pending["keyword"][item["id"]] = (word_of(number), acked)
                if number % 10 == 0:
                    pending["hybrid"][item["id"]] = (word_of(number), acked)
            due += BATCH / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        lags["achieved items/s"] = [serial / (time.perf_counter() - started)]
        done.set()
        await asyncio.gather(*watchers)
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50, help="new items per second the writer takes")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--embedding-model", default="default")
    args = parser.parse_args()
    code = Code.at("new", ROOT)
    tmp = Path(tempfile.mkdtemp(prefix="shopsearch-bench-replica-"))
    data = tmp / "data"
    code.run("-m", "shopsearch.cli.main", "index", str(SAMPLE), "--data-dir", str(data),
             "--embedding-model", args.embedding_model, capture_output=True)
    catalogue = [json.loads(line) for line in gzip.open(SAMPLE, "rt", encoding="utf-8")]
    model = ("--embedding-model", args.embedding_model)
    writer_url, writer = serve(code, data, *model, "--cache", "none", log="replica-writer")
    processes = [writer]
    try:
        replica_url, replica = serve(code, data, *model, "--cache", "none", "--read-only", log="replica-reader")
        processes.append(replica)
        lags = asyncio.run(run(writer_url, replica_url, args.rate, args.seconds, catalogue))
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for mode in ("keyword", "hybrid"):
        values = np.asarray(lags[mode]) * 1000
        lost = int(np.isinf(values).sum())
        found = values[np.isfinite(values)]
        rows.append((mode, len(values), f"{np.percentile(found, 50):.0f}", f"{np.percentile(found, 99):.0f}",
                     f"{found.max():.0f}", lost, "yes" if lost == 0 and np.percentile(found, 99) <= 1000 else "NO"))
    print_table(f"Replica visibility lag, writer at {lags['achieved items/s'][0]:.1f} new items/s "
                f"(asked {args.rate:g}), {args.seconds:g} s, model {args.embedding_model}",
                ["probe", "items", "p50 ms", "p99 ms", "max ms", f"not seen in {GIVE_UP_S:g} s", "p99 <= 1 s"], rows)


if __name__ == "__main__":
    main()
