"""Training the learned ranker: from judgments, cross-validated by query; and from the search log.

- `train_ranker`: fit on given judgments (a file's, or the log's), with the cross-validated comparison.
- `train_from_events`: the behaviour loop's step. Graded judgments from the search log's clicks (a
  position-based click model, behaviour/clicks.py), `train_ranker` on them, and the ranker installed
  only if, on held-out queries, it beats the current ranking; a `TrainingReport` says both figures.

"The current ranking" is what hybrid search answers with now: the ranker already installed when
the engine has one, else fusion. An installed ranker may have been trained on some of these very
queries (from an earlier log), so its figures here can be in-sample, which favours keeping it: the
safe side for a rule that changes what every shopper sees. A new ranker's figures are always out of
sample (each query scored by a model of the folds that left it out).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..behaviour import fit_pbm, graded_judgments
from ..errors import DataDirError, InvalidRequest
from ..search.ranker import LearnedRanker, query_folds, require_lightgbm
from .evaluator import EvalRun, evaluate, query_metrics
from .judgments import Judgments
from .metrics import has_relevant

MIN_IMPRESSIONS = 5  # a (query, item) pair shown fewer times is not judged (see graded_judgments)
MAX_QUERIES = 5000  # the most searched judged queries trained on: each costs a search, and the request waits
FUSION, INSTALLED = "fusion", "installed ranker"

Data = dict[str, tuple[list[str], np.ndarray, np.ndarray]]  # query -> (ids, features, grades)


class NoJudgments(InvalidRequest):
    """The search log judges nothing the ranker could learn from; the message says why."""


def training_data(engine, judgments: Judgments, on_step: Callable[[], None] | None = None) -> Data:
    """Per query: ids and features of the head of its fused hybrid list (what the ranker reorders) and their
    grades. An item nobody judged is grade 0, as evaluation counts it; for judgments from clicks that is an item
    never shown, which measured better than leaving such items out (benchmarks.md, learning from clicks)."""
    data = {}
    for query in judgments:
        ids, X = engine.ranking_features(query)
        data[query] = (ids, X, np.asarray([judgments[query].get(i, 0.0) for i in ids], dtype=np.int32))
        if on_step:
            on_step()
    return data


def fit(data: Data, queries: list[str], seed: int = 0) -> LearnedRanker:
    return LearnedRanker.fit([data[q][1] for q in queries], [data[q][2] for q in queries], seed)


def train_ranker(engine, judgments: Judgments, folds: int = 5, seed: int = 0,
                 on_step: Callable[[], None] | None = None, keyword: bool = True,
                 installed: bool = False) -> tuple[LearnedRanker, dict[str, EvalRun]]:
    """Fit on all queries; return the model and the cross-validated comparison, runs named "ranker" (held-out
    queries only), "hybrid" (fusion), "keyword" (unless keyword=False) and "installed" (installed=True: the
    engine's current ranker)."""
    data = training_data(engine, judgments, on_step)
    # Queries with no relevant judgment teach a ranker nothing and score 0 for every system.
    queries = [q for q in judgments if len(data[q][0]) and has_relevant(judgments[q])]
    if not 2 <= folds <= len(queries):
        raise InvalidRequest(f"{len(queries)} judged queries with a relevant grade and results, too few for {folds} "
                             "folds: cross-validation needs 2 <= folds <= queries", "folds")
    ranked = EvalRun("learned ranker (cross-validated)", {"mode": "hybrid", "ranker": True})
    for held_out in query_folds(queries, folds, seed):
        held = set(held_out)
        model = fit(data, [q for q in queries if q not in held], seed)
        for query in held_out:
            ids, X, _ = data[query]
            order = np.argsort(-model.score(X), kind="stable")
            ranked.per_query[query] = query_metrics([ids[i] for i in order], judgments[query])
        if on_step:
            on_step()
    scored = {q: judgments[q] for q in queries}
    runs = {"keyword": evaluate(engine, scored, {"mode": "keyword"}, "keyword")} if keyword else {}
    runs["hybrid"] = evaluate(engine, scored, {"mode": "hybrid", "ranker": False}, "hybrid (fusion)")
    if installed:
        runs["installed"] = evaluate(engine, scored, {"mode": "hybrid", "ranker": True}, "installed ranker")
    runs["ranker"] = ranked
    final = fit(data, queries, seed)
    final.meta["cv"] = {name: run.summary() for name, run in runs.items()}
    final.meta["folds"] = folds
    return final, runs


def judgments_from_events(events, since: float | None = None, until: float | None = None,
                          min_impressions: int = MIN_IMPRESSIONS) -> tuple[Judgments, int, dict[str, int]]:
    """(graded judgments, sessions read, impressions per judged query) from the search log's window."""
    sessions = list(events.sessions(since, until))
    model = fit_pbm(sessions)
    judged = graded_judgments(model, min_impressions=min_impressions)
    shown = {q: sum(model.impressions[q].values()) for q in judged}
    return judged, len(sessions), shown


def install_rule(ranker_ndcg: float, current_ndcg: float, current: str) -> tuple[bool, str]:
    """(beats, why): the new ranker replaces the current ranking only if its held-out nDCG@10 is higher; a tie keeps it."""
    if ranker_ndcg > current_ndcg:
        return True, f"on held-out queries the new ranker's nDCG@10 {ranker_ndcg:.4f} beats {current}'s {current_ndcg:.4f}"
    return False, (f"on held-out queries the new ranker's nDCG@10 {ranker_ndcg:.4f} does not beat {current}'s "
                   f"{current_ndcg:.4f}; search keeps {current}")


@dataclass(frozen=True)
class TrainingReport:
    """What train_from_events did. Figures are EvalRun.summary() dicts over the same held-out queries."""

    sessions: int  # searches with results in the window
    judged_queries: int  # queries with a pair shown often enough to judge
    queries: int  # of those, trained on and scored (a relevant grade, results, within max_queries)
    queries_left_out: int  # judged queries over max_queries (the least shown)
    pairs: int  # judged (query, item) pairs of the queries trained on
    folds: int
    current: str  # "fusion" or "installed ranker": what hybrid search used before
    ranker: Mapping[str, Any]  # the new ranker, cross-validated
    current_figures: Mapping[str, Any]  # the current ranking
    fusion: Mapping[str, Any]  # fusion alone (the same as current_figures when current is fusion)
    beats_current: bool
    installed: bool  # beats_current and not a dry run
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_from_events(engine, folds: int = 5, since: float | None = None, until: float | None = None, seed: int = 0,
                      dry_run: bool = False, max_queries: int = MAX_QUERIES,
                      on_step: Callable[[], None] | None = None) -> TrainingReport:
    """Judgments from the engine's search log (since <= time < until), the ranker trained and cross-validated on
    them, installed (engine.set_ranker, which search uses at once) only if it beats the current ranking.

    Raises ModelUnavailable without LightGBM, DataDirError on a read-only engine (unless dry_run), both before
    any work; NoJudgments when the log judges nothing to learn from; InvalidRequest for too few queries."""
    require_lightgbm()
    if not dry_run and engine.read_only:
        raise DataDirError(f"{engine.data_dir} is open read-only (another process holds its write lock): "
                           "a ranker trained here could not be installed")
    judged, sessions, shown = judgments_from_events(engine.events, since, until)
    if not judged:
        raise NoJudgments(f"the search log has no query whose results were shown {MIN_IMPRESSIONS} times or more "
                          f"({sessions} searches with results in the window): nothing to judge from clicks yet")
    informative = sorted((q for q in judged if has_relevant(judged[q])), key=lambda q: (-shown[q], q))
    if not informative:
        raise NoJudgments(f"of the {len(judged)} queries judged from clicks, none has an item shoppers clicked often "
                          "enough to grade above 0: nothing to learn from")
    used = {q: judged[q] for q in informative[:max_queries]}
    current = INSTALLED if engine.ranker is not None else FUSION
    ranker, runs = train_ranker(engine, used, folds, seed, on_step, keyword=False, installed=current == INSTALLED)
    now = runs["installed" if current == INSTALLED else "hybrid"]
    beats, reason = install_rule(runs["ranker"].means()["ndcg@10"], now.means()["ndcg@10"], current)
    if beats and not dry_run:
        ranker.meta.update({"source": "events", "sessions": sessions, "window": [since, until]})
        engine.set_ranker(ranker)
    elif beats:
        reason += f"; a dry run, so search keeps {current}"
    return TrainingReport(
        sessions=sessions, judged_queries=len(judged), queries=len(runs["ranker"].per_query),
        queries_left_out=max(0, len(informative) - max_queries), pairs=sum(len(used[q]) for q in runs["ranker"].per_query),
        folds=folds, current=current, ranker=runs["ranker"].summary(), current_figures=now.summary(),
        fusion=runs["hybrid"].summary(), beats_current=beats, installed=beats and not dry_run, reason=reason)
