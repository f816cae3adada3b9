"""Learning from clicks on the real Icecat index: simulated shoppers on the engine's own rankings, graded
judgments from a click model, and a learned ranker trained on them.

For each dev judged query (Broad_Query_Set_rated.csv), the engine's default hybrid ranking's first
`--page` results are what a shopper sees. Each of `--sessions` sessions per query shows that list,
with probability `--swap-rate` with one random adjacent pair swapped (eval/simulate.adjacent_swaps:
real logs have that much variety from ties, index updates and the page's own randomness, and without
any a click model cannot tell position from appeal), and a shopper (eval/simulate.Shoppers: examines
rank r with probability 1 / r^0.8, clicks by the true grade, 0.05 / 0.2 / 0.5 / 0.8, an unrated item
as grade 0) clicks. PBM (behaviour/clicks.py) grades the pairs; then:

(a) agreement of the derived grades with the true ones, on the shown pairs someone rated;
(b) for `--splits` random halvings of the queries, in both directions: the ranker trained on the click
    judgments of one half (eval/train_ranker.py's data and fit, as POST /v1/ranker/train trains), installed
    in the engine (not saved), and nDCG@10 of the other half against the TRUE judgments, against fusion (no
    ranker) on the same half. The goal is a lift >= +3%. For reference, the same ranker trained on the true
    judgments of the half, and on the true judgments of the shown pairs only (what clicks can at best tell);
(c) what train_from_events (the route's work) reports on this log: its cross-validation on the click
    judgments and the install rule, a dry run.

Both perturbations run (none, then --swap-rate). The index is opened read-only and nothing is written
to it; the search log of (c) is a temporary file.

    python benchmarks/bench_learning.py --data-dir DIR [--icecat-dir ../shared/datasets/icecat]
        [--sessions 100] [--swap-rate 1.0] [--splits 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_clicks import agreement  # noqa: E402
from bench_relevance import ICECAT_MAP, load_judgments  # noqa: E402
from tables import log, print_table  # noqa: E402

from shopsearch import Engine  # noqa: E402
from shopsearch.behaviour import Event, SearchRecord, Session, SqliteEventStore, fit_pbm, graded_judgments  # noqa: E402
from shopsearch.eval.evaluator import query_metrics  # noqa: E402
from shopsearch.eval.metrics import has_relevant  # noqa: E402
from shopsearch.eval.simulate import Shoppers  # noqa: E402
from shopsearch.eval.train_ranker import Data, fit, train_from_events, training_data  # noqa: E402

SHOPPERS = Shoppers()
Judgments = dict[str, dict[str, float]]


def open_index(data_dir: Path | None, icecat_dir: Path) -> Engine:
    """The given index read-only (nothing here writes to it), else a fresh one of the Icecat files."""
    if data_dir is not None and (data_dir / "catalogue.sqlite").exists():
        return Engine.open(data_dir, read_only=True)
    from shopsearch.index.ingest import BadRecord, FieldMapping, read_items

    items = [it for _, it in read_items(sorted(icecat_dir.glob("*.json.zip")), FieldMapping.parse(ICECAT_MAP, 0.01))
             if not isinstance(it, BadRecord)]
    engine = Engine.open(data_dir or Path(tempfile.mkdtemp(prefix="shopsearch-learning-")))
    log(f"indexing {len(items):,} items (once; pass the same --data-dir next time)")
    for i in range(0, len(items), 500):
        engine.upsert(items[i : i + 500])
    return engine


def simulate(shown: dict[str, list[str]], truth: Judgments, n: int, swap_rate: float, seed: int) -> list[Session]:
    rng = np.random.default_rng(seed)
    return [s for q in sorted(shown) for s in SHOPPERS.sessions(q, shown[q], truth.get(q, {}), n, rng, swap_rate)]


def relabel(data: Data, judgments: Judgments) -> Data:
    """The same candidates and features with other grades (unjudged = 0, as training_data grades them)."""
    return {q: (ids, X, np.asarray([judgments.get(q, {}).get(i, 0.0) for i in ids], dtype=np.int32))
            for q, (ids, X, _) in data.items()}


def percent(lifts: list[float]) -> list[str]:
    """Each split's lift, then their mean, in signed percent."""
    return [f"{100 * x:+.2f}" for x in [*lifts, float(np.mean(lifts))]]


def judged_rows_only(data: Data, judgments: Judgments) -> Data:
    """Each query's candidates cut to the pairs `judgments` grades: for clicks, the items shown (a variant: an item
    never shown is unknown rather than irrelevant)."""
    out = {}
    for q, (ids, X, y) in data.items():
        keep = np.asarray([i in judgments.get(q, {}) for i in ids], dtype=bool)
        out[q] = ([i for i, k in zip(ids, keep) if k], X[keep], y[keep])
    return out


def halvings(queries: list[str], splits: int, seed: int) -> list[tuple[str, list[str], list[str]]]:
    """(name, train, test): each random half trains once and tests once."""
    out = []
    for s in range(splits):
        order = np.random.default_rng(seed + 1000 + s).permutation(len(queries))
        a, b = [queries[i] for i in order[: len(order) // 2]], [queries[i] for i in order[len(order) // 2:]]
        out += [(f"{s}: A->B", a, b), (f"{s}: B->A", b, a)]
    return out


def ndcg(engine: Engine, queries: list[str], truth: Judgments, **params) -> dict[str, float]:
    return {q: query_metrics([h.id for h in engine.search(q, k=10, **params).hits], truth[q])["ndcg@10"] for q in queries}


def lifts(engine: Engine, data: Data, splits, truth: Judgments, fusion: dict[str, float]) -> list[float]:
    """Per split: held-out nDCG@10 of the ranker trained on `data`'s grades of the other half, over fusion's, - 1."""
    out = []
    for _, train, test in splits:
        usable = [q for q in train if q in data and len(data[q][0]) and data[q][2].max() > 0]
        engine.set_ranker(fit(data, usable), save=False)  # searched as the route would install it
        learned = ndcg(engine, test, truth, ranker=True)
        out.append(float(np.mean([learned[q] for q in test]) / np.mean([fusion[q] for q in test]) - 1))
    engine.set_ranker(None, save=False)
    return out


def route_dry_run(engine_dir: Path, sessions: list[Session], tmp: Path) -> dict:
    """train_from_events on a search log holding these sessions (a temporary store, the index read-only)."""
    store = SqliteEventStore(tmp / "events.sqlite")
    now = time.time()
    for n, s in enumerate(sessions):
        store.log_search(SearchRecord(f"s{n}", s.query, None, None, s.shown, len(s.shown), now))
    store.flush()
    store.add_events([Event("click", f"s{n}", s.shown[p - 1], p, None, now)
                      for n, s in enumerate(sessions) for p in sorted(s.clicked)])
    with Engine.open(engine_dir, read_only=True, events=store) as engine:
        report = train_from_events(engine, dry_run=True)
    return report.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--icecat-dir", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "icecat")
    parser.add_argument("--data-dir", type=Path, default=None, help="an index of the same files (opened read-only)")
    parser.add_argument("--sessions", type=int, default=100, help="sessions per query")
    parser.add_argument("--swap-rate", type=float, default=1.0, help="share of sessions with one adjacent pair swapped")
    parser.add_argument("--page", type=int, default=10, help="results a shopper sees")
    parser.add_argument("--splits", type=int, default=5, help="random halvings, each trained both ways")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    truth = load_judgments(args.icecat_dir / "Broad_Query_Set_rated.csv")
    queries = sorted(q for q in truth if has_relevant(truth[q]))
    engine = open_index(args.data_dir, args.icecat_dir)
    if engine.ranker is not None:
        log("the index has a learned ranker: the shoppers see its ranking, fusion is measured without it")
    log(f"{len(engine):,} items, {len(queries)} judged queries; the engine's rankings and features")
    shown = {q: [h.id for h in engine.search(q, k=args.page).hits] for q in queries}
    fusion = ndcg(engine, queries, truth, ranker=False)
    features = training_data(engine, {q: {} for q in queries})
    splits = halvings(queries, args.splits, args.seed)
    judged_at_10 = np.mean([np.mean([d in truth[q] for d in shown[q]]) for q in queries])
    log(f"fusion nDCG@10 {np.mean(list(fusion.values())):.4f} over {len(queries)} queries; "
        f"{judged_at_10:.2f} of the shown items rated (the rest are grade 0 to the shoppers)")

    truth_shown = {q: {d: truth[q].get(d, 0.0) for d in shown[q]} for q in queries}
    reference = {"true grades, all pairs": lifts(engine, relabel(features, truth), splits, truth, fusion),
                 "true grades, shown pairs only": lifts(engine, relabel(features, truth_shown), splits, truth, fusion)}
    rows, lift_rows, route_rows = [], [], []
    for rate in sorted({0.0, args.swap_rate}):
        name = "no perturbation" if rate == 0 else f"adjacent swap, rate {rate:g}"
        started = time.perf_counter()
        sessions = simulate(shown, truth, args.sessions, rate, args.seed)
        model = fit_pbm(sessions, max_rank=args.page)
        clicks = graded_judgments(model)
        log(f"{name}: {len(sessions):,} sessions, PBM in {time.perf_counter() - started:.1f} s")
        row, _ = agreement(name, model, truth)
        true_gamma = SHOPPERS.examination(args.page)
        rows.append(row + [float(np.abs(model.examination - true_gamma).max())])
        measured = lifts(engine, relabel(features, clicks), splits, truth, fusion)
        lift_rows.append([f"clicks, {name}", *percent(measured), float(np.mean(measured)) >= 0.03])
        if rate == args.swap_rate:
            measured = lifts(engine, judged_rows_only(relabel(features, clicks), clicks), splits, truth, fusion)
            lift_rows.append([f"clicks, {name}, unshown items left out", *percent(measured),
                              float(np.mean(measured)) >= 0.03])
        with tempfile.TemporaryDirectory() as tmp:
            report = route_dry_run(engine.data_dir, sessions, Path(tmp))
        route_rows.append([name, report["queries"], report["pairs"], f"{report['fusion']['ndcg@10']:.4f}",
                           f"{report['ranker']['ndcg@10']:.4f}", "yes" if report["beats_current"] else "no"])
    for name, measured in reference.items():
        lift_rows.append([f"reference: {name}", *percent(measured), None])
    engine.close()

    print_table(f"(a) Derived grades against the true ones ({args.sessions} sessions per query, shown pairs someone rated)",
                ["log", "pairs judged", "queries", "mean Spearman", "mean Kendall", "exact grade", "within one",
                 "max |gamma error|"], rows)
    print_table("(b) nDCG@10 lift over fusion on the held-out half, against the true judgments (%)",
                ["ranker trained on", *[name for name, _, _ in splits], "mean", ">= +3%"], lift_rows)
    print_table("(c) POST /v1/ranker/train on this log (dry run): 5-fold CV by query on the click judgments",
                ["log", "queries", "pairs", "fusion nDCG@10", "ranker nDCG@10", "would install"], route_rows)


if __name__ == "__main__":
    main()
