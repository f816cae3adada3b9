"""Graded judgments from simulated clicks (behaviour/clicks.py) against the Icecat dev judgments.

Simulated shoppers, no catalogue nor model: for each judged query, every session ranks the query's
judged items by true grade plus Gaussian noise (`--noise`, so the order leans toward the truth yet
every item visits several ranks), shows the first `--page`, and a shopper (eval/simulate.Shoppers)
examines rank r with probability 1 / r^0.8 and clicks an examined item with the probability its
grade gives (0: 0.05, 1: 0.2, 2: 0.5, 3: 0.8). bench_learning.py runs the same shoppers on the
engine's own rankings. PBM is fitted to the sessions and its graded judgments compared with the
true grades; raw CTR (clicks / impressions, with the same Beta prior and the same grade cuts) is the
baseline without position correction. Deterministic (`--seed`).

    python benchmarks/bench_clicks.py [--sessions 200] [--noise 1.0] [--page 10]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import log, print_table  # noqa: E402

from shopsearch.behaviour import Session, fit_pbm, graded_judgments  # noqa: E402
from shopsearch.behaviour.clicks import PRIOR, ClickModel  # noqa: E402
from shopsearch.eval.simulate import Shoppers  # noqa: E402

SHOPPERS = Shoppers()  # examination 1 / r^0.8, clicks by grade 0.05, 0.2, 0.5, 0.8 (eval/simulate.py)
MIN_IMPRESSIONS = 5
SWEEP = ((1.0, 2.0), (0.5, 2.0), (0.5, 5.0))  # other priors, (clicks, impressions)


def load(path: Path) -> dict[str, dict[str, int]]:
    truth: dict[str, dict[str, int]] = defaultdict(dict)
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            truth[row["query"]][row["docid"]] = int(row["rating"])
    return dict(truth)


def simulate(truth: dict[str, dict[str, int]], n: int, noise: float, page: int, rng: np.random.Generator) -> list[Session]:
    sessions = []
    for query in sorted(truth):
        items = sorted(truth[query])
        grades = SHOPPERS.grades(items, truth[query])
        # All n rankings of the query at once: argsort of noisy grades, one row per session.
        order = np.argsort(-(grades + noise * rng.standard_normal((n, len(items)))), axis=1, kind="stable")[:, :page]
        clicks = SHOPPERS.clicks(grades[order], rng)
        for ranking, clicked in zip(order, clicks):
            sessions.append(Session(query, tuple(items[i] for i in ranking),
                                    frozenset(int(r) + 1 for r in np.flatnonzero(clicked)), frozenset()))
    return sessions


def raw_ctr(sessions: list[Session], page: int) -> ClickModel:
    """Clicks per impression under the same prior: what the model adds is the position correction only."""
    clicks: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    shown: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in sessions:
        for position, item in enumerate(s.shown[:page], start=1):
            shown[s.query][item] += 1
            clicks[s.query][item] += position in s.clicked
    relevance = {q: {d: (clicks[q][d] + PRIOR[0]) / (n + PRIOR[1]) for d, n in items.items()} for q, items in shown.items()}
    return ClickModel(examination=np.ones(page), relevance=relevance, impressions={q: dict(v) for q, v in shown.items()})


def agreement(name: str, model: ClickModel, truth: dict[str, dict[str, int]] | dict[str, dict[str, float]]
              ) -> tuple[list[object], np.ndarray]:
    """Derived grades against the true ones, over the pairs both judge (a shown item nobody rated has no true grade)."""
    judged = graded_judgments(model, min_impressions=MIN_IMPRESSIONS)
    confusion = np.zeros((4, 4), dtype=int)  # [true, derived]
    rho, tau = [], []
    for query, grades in judged.items():
        items = sorted(d for d in grades if d in truth.get(query, {}))
        true = [int(truth[query][d]) for d in items]
        for d, t in zip(items, true):
            confusion[t, int(grades[d])] += 1
        alpha = [model.relevance[query][d] for d in items]
        if len(set(true)) > 1 and len(set(alpha)) > 1:
            rho.append(spearmanr(alpha, true).statistic)
            tau.append(kendalltau(alpha, true).statistic)
    total = confusion.sum()
    diff = np.abs(np.arange(4)[:, None] - np.arange(4)[None, :])
    pairs = sum(len(v) for v in truth.values())
    row: list[object] = [name, f"{total}/{pairs}", len(rho), f"{np.mean(rho):.3f}", f"{np.mean(tau):.3f}",
                         float(np.trace(confusion) / total), float(confusion[diff <= 1].sum() / total)]
    return row, confusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=Path, default=Path("../shared/datasets/icecat/Broad_Query_Set_rated.csv"))
    parser.add_argument("--sessions", type=int, default=200, help="sessions per query")
    parser.add_argument("--noise", type=float, default=1.0, help="sd of the Gaussian noise added to grades to rank")
    parser.add_argument("--page", type=int, default=10, help="results shown per session (= the model's max_rank)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    truth = load(args.judgments)
    log(f"{len(truth)} queries, {sum(len(v) for v in truth.values())} judged pairs; simulating {args.sessions} sessions per query")
    sessions = simulate(truth, args.sessions, args.noise, args.page, np.random.default_rng(args.seed))
    started = time.perf_counter()
    model = fit_pbm(sessions, max_rank=args.page, prior=PRIOR)
    log(f"fitted PBM on {len(sessions):,} sessions in {time.perf_counter() - started:.2f} s ({model.iterations} iterations)")

    true_gamma = SHOPPERS.examination(args.page)
    print_table("Examination by rank", ["rank", "true gamma", "fitted gamma"],
                [[r + 1, float(true_gamma[r]), float(model.examination[r])] for r in range(args.page)])
    rows, confusions = [], {}
    for name, fitted in (("PBM", model), ("raw CTR", raw_ctr(sessions, args.page))):
        row, confusions[name] = agreement(name, fitted, truth)
        rows.append(row)
    # The Beta prior's mean (0.1 by default) is where a rarely examined pair's alpha rests: the sweep shows its weight.
    for prior in SWEEP:
        rows.append(agreement(f"PBM, prior {prior}", fit_pbm(sessions, max_rank=args.page, prior=prior), truth)[0])
    headers = ["scores", "pairs judged", "queries", "mean Spearman", "mean Kendall", "exact grade", "within one"]
    print_table(f"Agreement with the true grades (pairs shown >= {MIN_IMPRESSIONS} times; prior {PRIOR} unless said)", headers, rows)
    for name, confusion in confusions.items():
        print_table(f"{name}: true grade (rows) x derived grade", ["true", "0", "1", "2", "3"],
                    [[str(t), *map(int, confusion[t])] for t in range(4)])


if __name__ == "__main__":
    main()
