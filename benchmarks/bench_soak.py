"""Soak: `shopsearch serve` on the Icecat catalogue under 30 minutes of mixed load, reported every minute.

Run:
    python benchmarks/bench_soak.py --data-dir DIR [--minutes 30] [--rate 12]

DIR is an index of the Icecat catalogue (bench_serve.py builds one); the run serves a copy of it,
since a tenth of the load writes. Requests arrive open-loop, as shoppers do (Poisson, --rate
per second, whatever the server's pace), each one of:
- 80% searches: a judged Icecat query (95 of them), hybrid, k 10 or 24, pages 1-3 (offset), one in four
  filtered by price or brand, one in ten sorted by price; with a user_id, so they are logged;
- 10% writes: 1-5 items through /v1/catalog/items, half of them new (copies of a catalogue item
  under a new id and title words shuffled), half updates of those; one write in ten a delete. New
  ids come from a pool of --pool (500), so the catalogue stays about its size, as a shop's does, and
  RSS growth shows leaks, not a catalogue a fifth larger (--pool 0: ever new ids);
- 10% events: a click on a hit of an earlier answer (its query_id, item_id, position);
- 1% of all requests bad on purpose (broken JSON, an unknown sort field, k=0, a filter that does
  not parse, an unknown item's delete: each has a known 4xx).
Every minute a line: requests, p50 / p99 of the searches, answers by status, the server's RSS.
At the end the goals: no 5xx; RSS at the end within 5% of RSS after minute 5; search p99 over the
last 5 minutes within 1.5x of the first 5 minutes'. A bad request answered other than its 4xx, or
any 5xx, is listed.

The server is started with `--cache memory` (the default) and stopped by its PID at the end; all
traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import ICECAT, ROOT, Code, serve, stop  # noqa: E402
from tables import print_table  # noqa: E402

MAX_OUTSTANDING = 512  # open loop, but never more than this many requests in the air (the client's own memory)


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """The process's resident memory (VmRSS), or a part of it: RssAnon (heap and other private memory, where a
    leak shows) or RssFile (mapped files: SQLite and tantivy pages the kernel may drop)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Minute:
    latencies: list[float] = field(default_factory=list)  # searches admitted and answered, ms
    statuses: Counter = field(default_factory=Counter)
    rss: float = float("nan")
    anon: float = float("nan")  # RssAnon: the part a leak would grow


@dataclass
class Shop:
    """What the load generator remembers between requests: answers to click on, items it wrote."""

    queries: list[str]
    catalogue: list[dict]
    rng: random.Random
    pool: int = 500  # new items take ids from this many (0: ever new ids, the catalogue grows all run)
    answers: list[dict] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    serial: int = 0

    def search(self) -> tuple[str, str, dict]:
        k = self.rng.choice((10, 24))
        body: dict = {"query": self.rng.choice(self.queries), "k": k, "offset": k * self.rng.choice((0, 0, 0, 1, 2)),
                      "user_id": f"u{self.rng.randrange(500)}"}
        if self.rng.random() < 0.25:
            body["filters"] = [self.rng.choice(("price<=50", "price>=20", "brand=HP", "brand=Samsung,LG"))]
        if self.rng.random() < 0.1:
            body["sort"] = self.rng.choice(("price:asc", "price:desc"))
        return "search", "/v1/search", body

    def write(self) -> tuple[str, str, dict | None]:
        if self.written and self.rng.random() < 0.1:
            return "delete", "/v1/catalog/items/" + self.written.pop(self.rng.randrange(len(self.written))), None
        items = []
        for _ in range(self.rng.randint(1, 5)):
            if self.written and self.rng.random() < 0.5:
                item_id = self.rng.choice(self.written)
            else:
                self.serial += 1
                # A steady catalogue: a new item reuses an id of the pool (a deleted one comes back, a stored one
                # is replaced), so the row space, and with it every index, stays the size it was plus the pool.
                item_id = f"soak-{self.serial % self.pool if self.pool else self.serial}"
                if item_id not in self.written:
                    self.written.append(item_id)
            item = dict(self.rng.choice(self.catalogue))
            words = str(item.get("title", "")).split()
            self.rng.shuffle(words)
            item.update(id=item_id, title=" ".join(words) or "soak item", price=round(self.rng.uniform(1, 500), 2))
            items.append(item)
        return "write", "/v1/catalog/items", {"items": items}

    def event(self) -> tuple[str, str, dict] | None:
        answered = [a for a in self.answers[-200:] if a.get("results")]
        if not answered:
            return None
        answer = self.rng.choice(answered)
        position = self.rng.randrange(len(answer["results"]))
        return "event", "/v1/events", {"events": [{"type": "click", "query_id": answer["query_id"],
                                                   "item_id": answer["results"][position]["id"], "position": position + 1}]}

    def bad(self) -> tuple[str, str, dict | bytes | None, int]:
        """A request that must be refused, and the status it must get."""
        return self.rng.choice([
            ("bad", "/v1/search", b"{not json", 400),
            ("bad", "/v1/search", {"query": "laptop", "sort": "no_such_field"}, 400),
            ("bad", "/v1/search", {"query": "laptop", "k": 0}, 400),
            ("bad", "/v1/search", {"query": "laptop", "filters": ["price<<3"]}, 400),
            ("bad", "/v1/catalog/items/no-such-item", None, 404),
        ])


def catalogue_sample(limit: int = 2000) -> list[dict]:
    from shopsearch.index.ingest import FieldMapping, read_items
    from shopsearch.index.items import Item

    mapping = FieldMapping.parse(["brand=supplier", "description=name,short_description"], price_scale=0.01)
    items = [it.to_record() for _, it in read_items([ICECAT / "1.json.zip"], mapping) if isinstance(it, Item)]
    return items[:limit]


async def send(client: httpx.AsyncClient, method: str, path: str, body) -> httpx.Response:
    if isinstance(body, bytes):
        return await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    return await client.request(method, path, json=body) if body is not None else await client.request(method, path)


async def soak(url: str, pid: int, shop: Shop, minutes: float, rate: float, report_every_s: float) -> list[Minute]:
    periods: list[Minute] = [Minute()]
    wrong: list[str] = []
    outstanding: set[asyncio.Task] = set()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def one(kind: str, method: str, path: str, body, expected: int | None) -> None:
            period = periods[-1]
            started = time.perf_counter()
            try:
                response = await send(client, method, path, body)
            except httpx.HTTPError as exc:
                period.statuses["transport error"] += 1
                wrong.append(f"{kind} {path}: {exc!r}")
                return
            period.statuses[response.status_code] += 1
            if kind == "search" and response.status_code == 200:
                period.latencies.append((time.perf_counter() - started) * 1000)
                shop.answers.append(response.json())
                del shop.answers[:-400]
            if response.status_code >= 500 or (expected is not None and response.status_code != expected):
                wrong.append(f"{kind} {path} {str(body)[:80]}: {response.status_code} {response.text[:200]}")

        deadline = time.perf_counter() + minutes * 60
        due = time.perf_counter()
        next_report = time.perf_counter() + report_every_s
        print(f"{'minute':>6} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8} {'anon MiB':>8}  statuses", flush=True)
        while (now := time.perf_counter()) < deadline:
            if now >= next_report:
                period = periods[-1]
                period.rss, period.anon = rss_mib(pid), rss_mib(pid, "RssAnon")
                p50, p99 = np.percentile(period.latencies, [50, 99]) if period.latencies else (float("nan"),) * 2
                print(f"{len(periods):>6} {sum(period.statuses.values()):>8} {p50:>8.1f} {p99:>8.1f} {period.rss:>8.1f} {period.anon:>8.1f}  "
                      f"{dict(sorted(period.statuses.items(), key=str))}", flush=True)
                periods.append(Minute())
                next_report += report_every_s
            draw = shop.rng.random()
            request: tuple | None
            if draw < 0.01:
                kind, path, body, expected = shop.bad()
                method = "DELETE" if path.startswith("/v1/catalog/items/") else "POST"
                request = (kind, method, path, body, expected)
            elif draw < 0.81:
                kind, path, body = shop.search()
                request = (kind, "POST", path, body, None)
            elif draw < 0.91:
                kind, path, body = shop.write()
                request = (kind, "DELETE" if body is None else "POST", path, body, None)
            else:
                event = shop.event()
                request = None if event is None else (event[0], "POST", event[1], event[2], None)
            if request is not None and len(outstanding) < MAX_OUTSTANDING:
                task = asyncio.create_task(one(*request))
                outstanding.add(task)
                task.add_done_callback(outstanding.discard)
            elif request is not None:
                periods[-1].statuses["not sent (client full)"] += 1
            due += shop.rng.expovariate(rate)  # an absolute schedule: a late wake-up sends what fell due at once
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await asyncio.gather(*outstanding)
    if len(periods[-1].statuses) == 0:
        periods.pop()
    else:
        periods[-1].rss, periods[-1].anon = rss_mib(pid), rss_mib(pid, "RssAnon")
    for line in wrong[:30]:
        print("WRONG:", line)
    if len(wrong) > 30:
        print(f"... and {len(wrong) - 30} more")
    return periods


def verdict(periods: list[Minute], window: int) -> list[tuple]:
    fives = sum(count for p in periods for status, count in p.statuses.items() if isinstance(status, int) and status >= 500)
    head, tail = periods[:window], periods[-window:]
    p99_head = float(np.percentile([x for p in head for x in p.latencies] or [np.nan], 99))
    p99_tail = float(np.percentile([x for p in tail for x in p.latencies] or [np.nan], 99))
    settled = periods[min(window, len(periods)) - 1].rss
    growth = periods[-1].rss / settled - 1
    anon_settled = periods[min(window, len(periods)) - 1].anon
    anon_growth = periods[-1].anon / anon_settled - 1
    return [("5xx answers", fives, "0", "yes" if fives == 0 else "NO"),
            (f"RSS growth after minute {window}", f"{settled:.0f} -> {periods[-1].rss:.0f} MiB ({growth:+.1%})", "<= +5%",
             "yes" if growth <= 0.05 else "NO"),
            ("  of which anonymous (heap)", f"{anon_settled:.0f} -> {periods[-1].anon:.0f} MiB ({anon_growth:+.1%})", "", ""),
            (f"search p99, last {window} min / first {window} min", f"{p99_tail:.0f} / {p99_head:.0f} ms = {p99_tail / p99_head:.2f}x",
             "<= 1.5x", "yes" if p99_tail <= 1.5 * p99_head else "NO")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="an index of the Icecat catalogue (copied, not changed)")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=12, help="requests per second, open loop")
    parser.add_argument("--report-every", type=float, default=60, help="seconds per report line")
    parser.add_argument("--window", type=int, default=5, help="report lines compared at the start and the end")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pool", type=int, default=500,
                        help="new items' ids come from this many, so the catalogue stays about its size (0: always new ids, "
                             "the catalogue grows by ~2.7 items/s at rate 20 and RSS with it)")
    args = parser.parse_args()
    queries = sorted({row["query"] for row in csv.DictReader(open(ICECAT / "Broad_Query_Set_rated.csv"))})
    shop = Shop(queries, catalogue_sample(), random.Random(args.seed), pool=args.pool)
    tmp = Path(tempfile.mkdtemp(prefix="shopsearch-bench-soak-"))
    data = tmp / "data"
    shutil.copytree(args.data_dir, data, ignore=shutil.ignore_patterns("LOCK", "events.sqlite*"))
    new = Code.at("new", ROOT)
    url, process = serve(new, data, log="soak")
    try:
        started = rss_mib(process.pid)
        print(f"server pid {process.pid}, RSS {started:.0f} MiB at start; {args.minutes:g} min at {args.rate:g} requests/s",
              flush=True)
        periods = asyncio.run(soak(url, process.pid, shop, args.minutes, args.rate, args.report_every))
    finally:
        stop(process)
        shutil.rmtree(tmp, ignore_errors=True)
    totals: Counter = Counter()
    for period in periods:
        totals.update(period.statuses)
    print("answers by status:", json.dumps({str(k): v for k, v in sorted(totals.items(), key=str)}))
    window = min(args.window, max(len(periods) // 2, 1))
    print_table(f"Soak: {len(periods)} x {args.report_every:g} s at {args.rate:g} requests/s (open loop)",
                ["goal", "measured", "target", "met"], verdict(periods, window))


if __name__ == "__main__":
    main()
