"""Does interleaving pick the better configuration? Keyword, vector and hybrid on the Icecat dev judgments.

The engine's real top-10 of each mode for each judged query; simulated shoppers (eval/simulate.py:
examination 1 / r^0.8, clicks by true grade, unjudged = grade 0) search a uniformly drawn judged
query; each search shows the team-draft merge of the two lists (behaviour/experiments.py, the code
the server runs, draft seeded per user and query as the server seeds it), its clicks credit the
teams, and after N searches the sign test names a winner (p < 0.05) or none. Half of the
`--experiments` put one configuration as A, half the other. The better one is the one with the
higher mean nDCG@10 on the same judgments. For comparison, an A/B split of the same number of
searches, judged on the share of searches with a click (two-proportion test). Printed per pair and
number of searches: how many experiments named the better one, and the better one's share of the
decided searches (0.5: indistinguishable), which says how many searches a pair needs.

    python benchmarks/bench_interleave.py --data-dir DIR [--icecat-dir ../shared/datasets/icecat]
        [--experiments 20] [--searches 1500,10000,40000] [--pairs keyword:hybrid,...] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_relevance import load_judgments  # noqa: E402
from tables import log, print_table  # noqa: E402

from shopsearch import Engine  # noqa: E402
from shopsearch.behaviour.experiments import (  # noqa: E402
    Experiment,
    ab_outcome,
    assign,
    credit,
    draft_seed,
    interleave_outcome,
    team_draft,
)
from shopsearch.eval.metrics import ndcg_at_k  # noqa: E402
from shopsearch.eval.simulate import Shoppers  # noqa: E402

MODES = ("keyword", "hybrid")
PAGE = 10


def interleaving(name: str, first: str, second: str, runs, truth, queries, searches: int, shoppers: Shoppers,
                 rng: np.random.Generator):
    experiment = Experiment(name, "interleave", {first: {"mode": first}, second: {"mode": second}}, 0.0)
    outcomes, clicked = [], 0
    for i, query in enumerate(rng.choice(queries, searches)):
        user = f"{name}-shopper-{i}"
        merged, teams = team_draft(runs[first][query], runs[second][query], PAGE,
                                   np.random.default_rng(draft_seed(experiment, user, query)))
        positions = np.flatnonzero(shoppers.clicks(shoppers.grades(merged, truth[query]), rng)) + 1
        if len(positions):
            clicked += 1
            outcomes.append(credit(teams, positions))
    return interleave_outcome(experiment, searches, outcomes), clicked


def ab_split(name: str, first: str, second: str, runs, truth, queries, searches: int, shoppers: Shoppers,
             rng: np.random.Generator):
    experiment = Experiment(name, "ab", {first: {"mode": first}, second: {"mode": second}}, 0.0)
    shown = {first: 0, second: 0}
    clicked = {first: 0, second: 0}
    for i, query in enumerate(rng.choice(queries, searches)):
        variant = assign(experiment, f"{name}-shopper-{i}")
        shown[variant] += 1
        clicked[variant] += bool(shoppers.clicks(shoppers.grades(runs[variant][query][:PAGE], truth[query]), rng).any())
    return ab_outcome(experiment, shown, clicked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="an index of the Icecat files (bench_relevance.py)")
    parser.add_argument("--icecat-dir", type=Path, default=Path("../shared/datasets/icecat"))
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument("--searches", default="1500,10000,40000", help="searches per experiment, comma-separated")
    parser.add_argument("--pairs", default="keyword:hybrid,vector:hybrid,keyword:vector",
                        help="the configurations compared, comma-separated first:second")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    truth = load_judgments(args.icecat_dir / "Broad_Query_Set_rated.csv")
    queries = sorted(truth)
    pairs = [tuple(pair.split(":")) for pair in args.pairs.split(",")]
    modes = sorted({mode for pair in pairs for mode in pair})
    with Engine.open(args.data_dir, read_only=True) as engine:
        log(f"ranking {len(queries)} queries in {', '.join(modes)}")
        runs = {mode: {q: [h.id for h in engine.search(q, mode=mode, k=PAGE).hits] for q in queries} for mode in modes}
    offline = {mode: float(np.mean([ndcg_at_k(runs[mode][q], truth[q], 10) for q in queries])) for mode in modes}
    print_table("Offline (the judgments the shoppers click by)", ["mode", "nDCG@10"],
                [[mode, f"{offline[mode]:.4f}"] for mode in modes])

    shoppers = Shoppers()
    rng = np.random.default_rng(args.seed)
    rows = []
    for pair in pairs:
        better = max(pair, key=offline.get)
        for searches in (int(n) for n in args.searches.split(",")):
            right = {"interleave": 0, "ab": 0}
            p_values, margins = [], []
            for e in range(args.experiments):
                first, second = pair if e % 2 == 0 else pair[::-1]  # half the experiments each way round
                name = f"sim-{e}"
                outcome, _ = interleaving(name, first, second, runs, truth, queries, searches, shoppers, rng)
                ab = ab_split(name, first, second, runs, truth, queries, searches, shoppers, rng)
                right["interleave"] += outcome.winner == better
                right["ab"] += ab.winner == better
                p_values.append(outcome.p_value)
                decided = outcome.wins[first] + outcome.wins[second]
                margins.append(outcome.wins[better] / decided if decided else 0.5)
            rows.append([f"{pair[0]} vs {pair[1]}", f"{abs(offline[pair[0]] - offline[pair[1]]):.4f}", better, searches,
                         f"{np.mean(margins):.3f}", f"{np.median(p_values):.2g}",
                         f"{right['interleave']} / {args.experiments}", f"{right['ab']} / {args.experiments}"])
            log(f"{pair} {searches}: {rows[-1][-2]}")
    print_table(f"Which variant {args.experiments} simulated experiments pick (half with each as A; p < 0.05)",
                ["pair", "nDCG@10 gap", "better offline", "searches", "better's share of wins", "median p",
                 "interleaving right", "A/B right"], rows)


if __name__ == "__main__":
    main()
