#!/usr/bin/env python
"""shopsearch benchmark: search-as-you-type completions (text/suggest/) and typo
correction (text/typos.py).

    python benchmarks/bench_suggest.py                       # 100k synthetic items (~2-3 min on 2 cores)
    python benchmarks/bench_suggest.py --items 20000         # smaller
    python benchmarks/bench_suggest.py --catalogue items.jsonl.gz   # real records: title, brand, category

Measures:
- typos: a TypoCorrector over a vocabulary of --vocab real English words (symspellpy's
  bundled frequency list): build time, memory, and `correct` latency for misses
  (one-edit typos of vocabulary words, 5-8 and 9+ letters; random letter strings)
  and for words the vocabulary has; target p50 < 50 us for a miss;
- suggest: a SuggestIndex over N items (title + brand + category each): build time,
  values/s and items/s added, memory (RSS growth, or --memory tracemalloc for Python
  allocations only), warm() time, `complete` latency p50/p99 over --prefixes prefixes
  of 1-12 characters drawn from the catalogue (a share with one typo, a share CJK),
  and the cost of one item's update (remove old fields, add new ones) on the full
  index; target: complete p99 <= 5 ms;
- popular queries (--popular, 5,000): a synthetic log of the shop's queries (title words, brands,
  categories, some typos; Zipf-like clicked counts) read by search.popular.PopularQueries (its
  refresh: the rule's filter, its own SuggestIndex, warm()), then the same prefixes answered as
  Engine.suggest does: both indexes' completions merged (text.suggest.popular.merge); the 5 ms
  target applies to that too.

The synthetic catalogue is deterministic (random.Random(--seed)): a few hundred
brands, ~200 categories (some Chinese), titles of brand + series + model code +
adjectives + product noun + specs, with Zipf-like popularity so that some words
are common and most are rare, as in a real catalogue.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from shopsearch.search.popular import PopularQueries
from shopsearch.text.analyzer import fold, fold_accents, normalize
from shopsearch.text.suggest import SuggestIndex, title_phrases
from shopsearch.text.suggest.popular import merge
from shopsearch.text.typos import TypoCorrector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import log, print_table  # noqa: E402

TARGETS = {"typo_miss_p50_us": 50.0, "complete_p99_ms": 5.0}


# -- measurement helpers -----------------------------------------------------
def rss_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Memory:
    """Memory growth over a block: RSS (what the process really holds) or tracemalloc (Python objects only)."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.bytes = 0

    def __enter__(self) -> "Memory":
        gc.collect()
        if self.how == "tracemalloc":
            tracemalloc.start()
        else:
            self._before = rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.collect()
        if self.how == "tracemalloc":
            self.bytes = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
        else:
            self.bytes = rss_bytes() - self._before


def pctl(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def timed(fn: Callable[[str], Any], inputs: Sequence[str]) -> list[float]:
    """Seconds per call, one call per input."""
    out = []
    clock = time.perf_counter
    for x in inputs:
        t0 = clock()
        fn(x)
        out.append(clock() - t0)
    return out


def one_typo(rng: random.Random, word: str, alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> str:
    i = rng.randrange(len(word))
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1 :]
    if op == 1 and i + 1 < len(word) and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == 2:
        return word[:i] + rng.choice(alphabet) + word[i:]
    return word[:i] + rng.choice([c for c in alphabet if c != word[i]]) + word[i + 1 :]


# -- synthetic catalogue -----------------------------------------------------
REAL_BRANDS = """Sony Samsung HP Lenovo Dell Asus Acer Apple Xiaomi Huawei Logitech Razer Corsair
Bose JBL Sennheiser Philips Panasonic LG Canon Nikon Fujifilm Epson Brother Xerox Kingston
SanDisk Seagate Toshiba Intel AMD Nvidia MSI Gigabyte Anker Belkin TP-Link Netgear Garmin
Fitbit Microsoft Nintendo Beko Bosch Siemens Miele Dyson Tefal Braun Oral-B Nokia Motorola
OnePlus Oppo Vivo Realme Honor ZTE Alcatel Lexar Crucial Western-Digital Targus Tucano""".split()
CJK_BRANDS = ["华为", "小米", "联想", "罗技", "索尼", "海尔", "美的", "格力", "漫步者", "雷蛇"]
SYLLABLES = "ka ro mi ta ne vo lu ze ri sa po te qu an el ix or un dex tron max vi sol nor bel cor".split()
ADJECTIVES = """wireless portable compact gaming professional ergonomic mechanical bluetooth
rechargeable waterproof lightweight slim ultra smart digital noise-cancelling foldable
adjustable magnetic transparent premium classic mini heavy-duty silent backlit curved
stereo active passive rugged universal dual fast quick high-speed vertical optical""".split()
COLOURS = "black white silver grey blue red green gold pink purple beige".split()
NOUNS = """headphones earbuds speaker soundbar keyboard mouse monitor laptop notebook tablet
smartphone charger cable adapter router switch webcam microphone printer scanner toner
cartridge projector camera lens tripod drone smartwatch tracker backpack sleeve case
stand dock hub battery powerbank ssd harddrive memory card flashdrive graphics processor
motherboard cooler fan case lamp kettle toaster blender vacuum shaver toothbrush
television controller gamepad console headset cover""".split()
ACCESSORY_FOR = ["for laptop", "for iphone", "for ipad", "for macbook", "for samsung galaxy", "for nintendo switch"]
SERIES = "Pro Max Ultra Lite Plus Air Neo Prime Elite Core Studio Go X".split()
CATEGORIES_EN = """Headphones|Wireless Earbuds|Bluetooth Speakers|Soundbars|Keyboards|Gaming Keyboards|Mice|Gaming Mice
|Monitors|Gaming Monitors|Laptops|Gaming Laptops|Notebooks|Tablets|Smartphones|Chargers|USB Cables|Adapters
|Routers|Network Switches|Webcams|Microphones|Printers|Scanners|Toner Cartridges|Ink Cartridges|Projectors
|Digital Cameras|Camera Lenses|Tripods|Drones|Smartwatches|Fitness Trackers|Laptop Backpacks|Laptop Sleeves
|Phone Cases|Laptop Stands|Docking Stations|USB Hubs|Batteries|Power Banks|Solid State Drives|Hard Drives
|Memory Cards|USB Flash Drives|Graphics Cards|Processors|Motherboards|CPU Coolers|Case Fans|PC Cases|Desk Lamps
|Electric Kettles|Toasters|Blenders|Vacuum Cleaners|Electric Shavers|Electric Toothbrushes|Televisions
|Game Controllers|Gaming Headsets|Game Consoles|Tablet Covers|Laptop Bags|Cables & Adapters|Office Supplies
|Auriculares Bluetooth|Teclados|Ratones|Portátiles|Altavoces|Écouteurs sans fil|Claviers|Souris|Kopfhörer
|Tastaturen|Mäuse|Ladegeräte|Наушники|Клавиатуры""".replace("\n", "").split("|")
CATEGORIES_CN = """蓝牙耳机 机械键盘 无线鼠标 移动电源 笔记本电脑 平板电脑 智能手机 充电器 数据线 路由器
显示器 游戏鼠标 游戏键盘 蓝牙音箱 智能手表 固态硬盘 移动硬盘 内存卡 U盘 显卡 主板 散热器
摄像头 麦克风 打印机 投影仪 数码相机 无人机 电动牙刷 剃须刀 吸尘器 电热水壶 手机壳 键盘膜""".split()
CN_ADJ = ["无线", "降噪", "便携", "超薄", "快充", "高清", "静音", "防水", "游戏", "智能", "蓝牙", "机械"]
CN_NOUN = ["耳机", "键盘", "鼠标", "音箱", "充电宝", "手表", "硬盘", "显示器", "路由器", "手机壳", "数据线", "摄像头"]


def _zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(n)]


def synthetic_catalogue(n: int, seed: int) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    made_up = sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize() for _ in range(400)})
    brands = REAL_BRANDS + made_up[: 300 - len(REAL_BRANDS)]
    rng.shuffle(brands)
    categories = CATEGORIES_EN + CATEGORIES_CN
    # Synthesise more English categories up to ~200, as real taxonomies have.
    while len(categories) < 200:
        categories.append(f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()}s")
    categories = list(dict.fromkeys(categories))
    brand_w = _zipf_weights(len(brands), 0.9)
    noun_w = _zipf_weights(len(NOUNS), 0.8)
    cat_w = _zipf_weights(len(categories), 0.7)
    adj_w = _zipf_weights(len(ADJECTIVES), 0.6)
    for _ in range(n):
        if rng.random() < 0.08:
            brand = rng.choice(CJK_BRANDS)
            title = " ".join(
                [brand, rng.choice(CN_ADJ) + rng.choice(CN_NOUN), _model_code(rng)]
                + rng.sample(CN_ADJ, rng.randint(0, 2))
            )
            category = rng.choice(CATEGORIES_CN)
        else:
            brand = rng.choices(brands, brand_w)[0]
            noun = rng.choices(NOUNS, noun_w)[0]
            parts = [brand]
            if rng.random() < 0.5:
                parts.append(rng.choice(SERIES))
            if rng.random() < 0.7:
                parts.append(_model_code(rng))
            parts += dict.fromkeys(rng.choices(ADJECTIVES, adj_w, k=rng.randint(1, 3)))
            parts.append(noun.capitalize() if rng.random() < 0.6 else noun)
            if rng.random() < 0.15:
                parts.append(rng.choice(ACCESSORY_FOR))
            parts += _specs(rng)
            if rng.random() < 0.5:
                parts.append(rng.choice(COLOURS).capitalize())
            title = " ".join(parts)
            category = rng.choices(categories, cat_w)[0]
        yield {"title": title, "brand": brand, "category": category}


def _model_code(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTVWXZ"
    shape = rng.randrange(4)
    if shape == 0:
        return f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(100, 9999)}{rng.choice(letters)}{rng.choice(letters)}"
    if shape == 1:
        return f"{rng.choice(letters)}{rng.randint(1, 99)}"
    if shape == 2:
        return f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(1000, 9999)}"
    return f"{rng.choice(letters).lower()}{rng.randint(1, 9)}-{rng.randint(1000, 9999)}{rng.choice(letters).lower()}{rng.choice(letters).lower()}"


def _specs(rng: random.Random) -> list[str]:
    pool = [
        lambda: f'{rng.choice(["13.3", "14", "15.6", "17.3", "24", "27", "32"])}"',
        lambda: f"{rng.choice([4, 8, 16, 32, 64])}GB",
        lambda: f"{rng.choice([128, 256, 512])}GB SSD",
        lambda: f"{rng.choice([1, 2, 4])}TB",
        lambda: f"{rng.choice([5, 10, 20, 65, 100])}W",
        lambda: f"{rng.choice([250, 350, 500, 750])}ml",
        lambda: rng.choice(["USB-C", "USB 3.0", "HDMI", "Wi-Fi 6", "4K", "1080p", "RGB", "2.4GHz"]),
        lambda: f"{rng.choice([1000, 2000, 5000, 10000, 20000])}mAh",
    ]
    return [f() for f in rng.sample(pool, rng.randint(0, 3))]


def read_catalogue(path: Path, limit: int | None) -> list[dict[str, str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            out.append({k: str(rec.get(k) or "") for k in ("title", "brand", "category")})
            if limit and len(out) >= limit:
                break
    return out


# -- workloads -----------------------------------------------------------------
def prefix_workload(items: Sequence[dict[str, str]], n: int, seed: int, typo_share: float, cjk_share: float) -> list[tuple[str, str]]:
    """(group, prefix) pairs: 1-12 characters of a field, from its start or one of its words' start."""
    rng = random.Random(seed + 1)
    cjk_texts = [v for it in items for v in (it["title"], it["category"], it["brand"]) if _has_cjk(v)]
    out: list[tuple[str, str]] = []
    while len(out) < n:
        if cjk_texts and rng.random() < cjk_share:
            text = rng.choice(cjk_texts)
            runs = [w for w in text.split() if _has_cjk(w)]
            word = rng.choice(runs)
            out.append(("cjk", word[: rng.randint(1, min(4, len(word)))]))
            continue
        item = rng.choice(items)
        field = rng.choices(("title", "brand", "category"), (0.6, 0.2, 0.2))[0]
        text = " ".join(fold_accents(normalize(item[field])).split())
        if not text or _has_cjk(text):
            continue
        words = text.split(" ")
        start = 0 if rng.random() < 0.5 else rng.randrange(len(words))
        rest = " ".join(words[start:])
        length = rng.randint(1, min(12, len(rest)))
        prefix = rest[:length].rstrip()
        if not prefix:
            continue
        last = prefix.split(" ")[-1]
        if rng.random() < typo_share and len(last) >= 5 and last.isalpha():
            prefix = prefix[: len(prefix) - len(last)] + one_typo(rng, last)
            out.append(("typo", prefix))
        else:
            out.append((f"{min(len(prefix), 12) if len(prefix) > 2 else len(prefix)}", prefix))
    return out


def popular_rows(items: Sequence[dict[str, str]], n: int, seed: int) -> list[tuple[str, int, int]]:
    """n distinct queries as the search log holds them (folded), best first: (query, searches, clicked)."""
    rng = random.Random(seed + 3)
    found: dict[str, None] = {}
    tries = 0
    while len(found) < n and tries < 50 * n:
        tries += 1
        item = rng.choice(items)
        words = fold(item["title"]).split()
        shape = rng.random()
        if shape < 0.2:
            query = fold(item["category"])
        elif shape < 0.3:
            query = f"{fold(item['brand'])} {fold(item['category'])}"
        else:  # a run of 1-3 title words from anywhere in the title, the odd one misspelt
            start = rng.randrange(len(words))
            query = " ".join(words[start:start + rng.randint(1, 3)])
            last = query.split(" ")[-1]
            if rng.random() < 0.05 and len(last) >= 5 and last.isalpha():
                query = query[: len(query) - len(last)] + one_typo(rng, last)
        if query:
            found.setdefault(query, None)
    return [(q, 2 * c, c) for q, c in zip(found, (max(1, int(20_000 / (rank + 1) ** 1.1)) for rank in range(len(found))))]


class _Log:
    """The part of an EventStore that PopularQueries reads, over fixed rows."""

    def __init__(self, rows: list[tuple[str, int, int]]) -> None:
        self.rows = rows

    def popular_queries(self, since: Any, until: Any, min_searches: int, min_clicked: int, limit: int) -> list[tuple[str, int, int]]:
        return [r for r in self.rows if r[1] >= min_searches and r[2] >= min_clicked][:limit]


def _has_cjk(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in text)


def _group_of(group: str) -> str:
    if group in ("typo", "cjk"):
        return group
    n = int(group)
    return "1-2 chars" if n <= 2 else ("3-5 chars" if n <= 5 else "6-12 chars")


# -- sections ----------------------------------------------------------------
def bench_typos(args: argparse.Namespace) -> dict[str, Any]:
    import symspellpy

    path = Path(symspellpy.__file__).parent / "frequency_dictionary_en_82_765.txt"
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, count = line.split()
            rows.append((word, int(count)))
            if len(rows) >= args.vocab:
                break
    log(f"typos: building a corrector over {len(rows):,} words")
    with Memory(args.memory) as mem:
        t0 = time.perf_counter()
        corrector = TypoCorrector()
        for word, count in rows:
            corrector.add(word, count)
        build_s = time.perf_counter() - t0
    rng = random.Random(args.seed)
    words = [w for w, _ in rows if w.isalpha()]
    groups: dict[str, list[str]] = {"typo 5-8 letters": [], "typo 9+ letters": [], "random 5-12 letters": [], "in vocabulary": []}
    while len(groups["typo 5-8 letters"]) < args.lookups or len(groups["typo 9+ letters"]) < args.lookups:
        word = rng.choice(words)
        typo = one_typo(rng, word)
        if typo in corrector or len(typo) < 5:
            continue
        key = "typo 5-8 letters" if len(typo) <= 8 else "typo 9+ letters"
        if len(groups[key]) < args.lookups:
            groups[key].append(typo)
    while len(groups["random 5-12 letters"]) < args.lookups:
        w = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 12)))
        if w not in corrector:
            groups["random 5-12 letters"].append(w)
    groups["in vocabulary"] = rng.sample([w for w in words if len(w) >= 5], args.lookups)
    for qs in groups.values():  # warm-up pass: first calls pay for imports and caches
        timed(corrector.correct, qs[:200])
    rows_out = []
    result: dict[str, Any] = {"vocab": len(corrector), "build_s": build_s, "memory_bytes": mem.bytes, "memory_how": args.memory}
    misses: list[float] = []
    for name, qs in groups.items():
        times = timed(corrector.correct, qs)
        corrected = sum(corrector.correct(q) is not None for q in qs[:500]) / min(500, len(qs))
        if name != "in vocabulary":
            misses += times
        rows_out.append([name, len(qs), pctl(times, 50) * 1e6, pctl(times, 99) * 1e6, corrected * 100])
        result[name] = {"p50_us": pctl(times, 50) * 1e6, "p99_us": pctl(times, 99) * 1e6, "corrected_pct": corrected * 100}
    result["miss_p50_us"] = pctl(misses, 50) * 1e6
    print_table(
        f"typos: TypoCorrector, {len(corrector):,}-word vocabulary (build {build_s:.2f} s, memory {mem.bytes / 2**20:.1f} MiB, {args.memory})",
        ["lookups", "n", "p50 us", "p99 us", "corrected %"],
        rows_out,
    )
    return result


def bench_suggest(args: argparse.Namespace) -> dict[str, Any]:
    if args.catalogue:
        items = read_catalogue(args.catalogue, args.items)
        source = str(args.catalogue)
    else:
        items = list(synthetic_catalogue(args.items, args.seed))
        source = "synthetic"
    log(f"suggest: {len(items):,} items from {source}")
    values = sum(bool(it[f]) for it in items for f in ("title", "brand", "category"))
    # jieba's dictionary (tens of MiB, loaded on the first CJK text) is the analyzer's, not the index's.
    title_phrases("预热")
    with Memory(args.memory) as mem:
        corrector = TypoCorrector()
        index = SuggestIndex(corrector)
        t0 = time.perf_counter()
        for it in items:
            for field in ("title", "brand", "category"):
                if it[field]:
                    index.add(it[field], field)
        build_s = time.perf_counter() - t0
        phrases, counted, entries = len(index), len(index._title_counts), len(index._sorted)
        # The engine feeds the corrector its analyzer's words; here, the titles' letter words.
        t1 = time.perf_counter()
        for it in items:
            for word in set(fold_accents(normalize(it["title"] + " " + it["category"])).split()):
                if word.isalpha():
                    corrector.add(word)
        corrector_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        cached = index.warm()
        warm_s = time.perf_counter() - t2
    log(f"suggest: built in {build_s:.1f} s ({phrases:,} phrases), warm {warm_s:.2f} s ({cached} cached prefixes)")

    workload = prefix_workload(items, args.prefixes, args.seed, args.typo_share, args.cjk_share)
    for _, p in workload[:300]:
        index.complete(p, args.k)
    times: dict[str, list[float]] = {}
    empty = 0
    clock, cpu_clock = time.perf_counter, time.thread_time
    all_times: list[float] = []
    # CPU time too: on a shared 2-core machine the wall-clock tail is mostly
    # other processes' time slices, which the CPU time of this thread leaves out.
    cpu_times: list[float] = []
    for group, p in workload:
        c0 = cpu_clock()
        t0 = clock()
        got = index.complete(p, args.k)
        dt = clock() - t0
        cpu_times.append(cpu_clock() - c0)
        empty += not got
        all_times.append(dt)
        times.setdefault(_group_of(group), []).append(dt)

    # Updates on the full index: one item's old fields out, new ones in (another item's).
    rng = random.Random(args.seed + 2)
    update_times = []
    for _ in range(args.updates):
        old, new = rng.choice(items), rng.choice(items)
        t0 = clock()
        for field in ("title", "brand", "category"):
            if old[field]:
                index.remove(old[field], field)
            if new[field]:
                index.add(new[field], field)
        update_times.append(clock() - t0)
    # Queries again after the updates: the cached lists were kept current, not dropped.
    after, after_cpu = [], []
    for _, p in workload:
        c0 = cpu_clock()
        t0 = clock()
        index.complete(p, args.k)
        after.append(clock() - t0)
        after_cpu.append(cpu_clock() - c0)

    # Popular queries: PopularQueries' own refresh over a synthetic log, then both indexes merged per prefix.
    merged_times: list[float] = []
    merged_cpu: list[float] = []
    popular_s, popular_n, with_query = 0.0, 0, 0
    if args.popular:
        log_rows = popular_rows(items, args.popular, args.seed)
        popular = PopularQueries(lambda: _Log(log_rows), limit=args.popular)  # type: ignore[arg-type, return-value]
        t0 = clock()
        popular.refresh()
        popular_s = clock() - t0
        queries = popular.current()
        assert queries is not None
        popular_n = len(queries)
        for _, p in workload[:300]:
            queries.complete(p, args.k)
        for _, p in workload:
            c0 = cpu_clock()
            t0 = clock()
            got = merge(index.complete(p, args.k), queries.complete(p, args.k), args.k)
            merged_times.append(clock() - t0)
            merged_cpu.append(cpu_clock() - c0)
            with_query += any(s.kind == "query" for s in got)
        popular.close()
        log(f"suggest: {popular_n:,} popular queries read in {popular_s:.2f} s; {with_query / len(workload):.0%} of prefixes offer one")

    order = ["1-2 chars", "3-5 chars", "6-12 chars", "typo", "cjk"]
    rows = [[g, len(times[g]), pctl(times[g], 50) * 1e3, pctl(times[g], 99) * 1e3, max(times[g]) * 1e3] for g in order if g in times]
    rows.append(["all", len(all_times), pctl(all_times, 50) * 1e3, pctl(all_times, 99) * 1e3, max(all_times) * 1e3])
    rows.append(["all, after updates", len(after), pctl(after, 50) * 1e3, pctl(after, 99) * 1e3, max(after) * 1e3])
    rows.append(["all, thread CPU time", len(cpu_times), pctl(cpu_times, 50) * 1e3, pctl(cpu_times, 99) * 1e3, max(cpu_times) * 1e3])
    rows.append(["all, after updates, CPU time", len(after_cpu), pctl(after_cpu, 50) * 1e3, pctl(after_cpu, 99) * 1e3, max(after_cpu) * 1e3])
    if merged_times:
        rows.append([f"all, with {popular_n:,} popular queries merged", len(merged_times), pctl(merged_times, 50) * 1e3,
                     pctl(merged_times, 99) * 1e3, max(merged_times) * 1e3])
        rows.append(["the same, CPU time", len(merged_cpu), pctl(merged_cpu, 50) * 1e3, pctl(merged_cpu, 99) * 1e3, max(merged_cpu) * 1e3])
    p99 = max(pctl(all_times, 99), pctl(after, 99), pctl(merged_times, 99) if merged_times else 0.0) * 1e3
    build_rows = [
        ["items", len(items)],
        ["values added (title + brand + category)", values],
        ["build s", build_s],
        ["items/s", len(items) / build_s],
        ["values/s", values / build_s],
        ["mean us per item (3 fields)", build_s / len(items) * 1e6],
        ["suggestible phrases", phrases],
        ["title phrases counted (suggestible or not)", counted],
        ["sorted-list entries", entries],
        ["corrector feed s", corrector_s],
        ["corrector vocabulary", len(corrector)],
        ["warm() s", warm_s],
        ["cached prefixes after warm()", cached],
        [f"memory MiB ({args.memory}, index + corrector)", mem.bytes / 2**20],
        ["update (remove + add 3 fields) p50 us", pctl(update_times, 50) * 1e6],
        ["update p99 us", pctl(update_times, 99) * 1e6],
        ["prefixes with no completion %", empty / len(workload) * 100],
    ]
    if args.popular:
        build_rows += [["popular queries held (of --popular)", popular_n], ["popular queries' refresh (filter, index, warm) s", popular_s],
                       ["prefixes offered a popular query %", with_query / len(workload) * 100]]
    print_table(f"suggest: build ({source})", ["measure", "value"], build_rows)
    print_table(f"suggest: complete(prefix, k={args.k}) latency, ms (wall clock unless said)", ["prefixes", "n", "p50", "p99", "max"], rows)
    passed = p99 <= TARGETS["complete_p99_ms"]
    return {
        "items": len(items),
        "build_s": build_s,
        "items_per_s": len(items) / build_s,
        "warm_s": warm_s,
        "memory_bytes": mem.bytes,
        "phrases": phrases,
        "complete_p50_ms": pctl(all_times, 50) * 1e3,
        "complete_p99_ms": p99,
        "complete_cpu_p99_ms": max(pctl(cpu_times, 99), pctl(after_cpu, 99)) * 1e3,
        "groups": {r[0]: {"p50_ms": r[2], "p99_ms": r[3]} for r in rows},
        "update_p50_us": pctl(update_times, 50) * 1e6,
        "popular": {"queries": popular_n, "refresh_s": popular_s,
                    "merged_p50_ms": pctl(merged_times, 50) * 1e3 if merged_times else None,
                    "merged_p99_ms": pctl(merged_times, 99) * 1e3 if merged_times else None},
        "pass": passed,
        "examples": {p: [s.text for s in index.complete(p, 5)] for p in args.show},
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000, help="catalogue size (synthetic), or a limit on --catalogue")
    ap.add_argument("--catalogue", type=Path, help="JSONL (.gz) records with title, brand, category instead of the synthetic catalogue")
    ap.add_argument("--prefixes", type=int, default=4000, help="prefixes timed")
    ap.add_argument("--typo-share", type=float, default=0.12, help="share of prefixes with one typo in their last word")
    ap.add_argument("--cjk-share", type=float, default=0.08, help="share of CJK prefixes")
    ap.add_argument("-k", type=int, default=8)
    ap.add_argument("--updates", type=int, default=2000, help="item updates timed on the full index")
    ap.add_argument("--popular", type=int, default=5000, help="popular queries merged into the suggestions (0: none)")
    ap.add_argument("--vocab", type=int, default=50_000, help="typo corrector vocabulary size")
    ap.add_argument("--lookups", type=int, default=5000, help="corrector lookups per group")
    ap.add_argument("--memory", choices=("rss", "tracemalloc"), default="rss")
    ap.add_argument("--skip", choices=("typos", "suggest"), action="append", default=[])
    ap.add_argument("--show", nargs="*", default=["s", "la", "wirel", "laptop s", "蓝牙", "headphnes", "keybaord"], help="prefixes whose completions are printed")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    log(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    results: dict[str, Any] = {}
    if "typos" not in args.skip:
        results["typos"] = bench_typos(args)
    if "suggest" not in args.skip:
        results["suggest"] = bench_suggest(args)
    verdict = []
    if "typos" in results:
        v = results["typos"]["miss_p50_us"]
        verdict.append(["typo correct() miss p50 < 50 us", v, TARGETS["typo_miss_p50_us"], v < TARGETS["typo_miss_p50_us"]])
    if "suggest" in results:
        v = results["suggest"]["complete_p99_ms"]
        verdict.append([f"complete() p99 <= 5 ms at {results['suggest']['items']:,} items", v, TARGETS["complete_p99_ms"], results["suggest"]["pass"]])
        for p, texts in results["suggest"]["examples"].items():
            print(f"  {p!r:14} -> {texts}")
    print_table("targets", ["target", "measured", "limit", "result"], verdict)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0 if all(row[3] for row in verdict) else 1


if __name__ == "__main__":
    sys.exit(main())
