"""Relevance commands: eval against judgments, train-ranker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import InvalidRequest, ShopsearchError
from ..search.plan import MODES
from .common import data_dir_option, embedding_model_option, engine_config, fail, index_option, open_engine


@click.command("eval")
@data_dir_option
@index_option
@click.option("--judgments", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV query,docid,rating (0 = irrelevant), or TREC qrels with --queries-file.")
@click.option("--queries-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="For TREC qrels: 'qid<TAB>query text' per line.")
@click.option("--judgments-from-events", "from_events", is_flag=True,
              help="Judge by what shoppers did: grades from the server's clicks, corrected for position (a PBM click model).")
@click.option("--mode", type=click.Choice(MODES), default=None, help="Default: the configured mode (hybrid).")
@click.option("--sweep", "sweeps", multiple=True, metavar="KEY=V1,V2",
              help="Evaluate every combination, e.g. --sweep mode=keyword,vector,hybrid --sweep vector_weight=0.2,0.5.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {queries, ndcg@10, mrr@10, recall@100, map@100, judged@10} (one line per configuration).")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write report.md, results.json and metrics.png here.")
@click.option("--gain", type=click.Choice(["exponential", "linear"]), default="exponential", show_default=True,
              help="nDCG's gain: 2^grade - 1 (Elasticsearch rank_eval) or the grade (trec_eval, BEIR).")
@embedding_model_option
def eval_command(data_dir, index_uri, judgments, queries_file, from_events, mode, sweeps, as_json, report, gain,
                 embedding_model) -> None:
    """Measure ranking quality against human judgments (nDCG@10, MRR@10, Recall@100, MAP@100, judged@10).

    Queries with no relevant judgment score 0 for every system: they are left out of the averages
    and counted."""
    from tqdm import tqdm

    from ..eval.evaluator import METRICS, describe, evaluate, parse_sweeps
    from ..eval.judgments import InvalidJudgments, load_judgments

    if (judgments is None) == (not from_events):
        raise click.UsageError("give either --judgments FILE or --judgments-from-events")
    if from_events:
        judged, source = _judgments_from_events(data_dir), "shoppers' clicks"
    else:
        try:
            judged, source = load_judgments(judgments, queries_file), judgments.name
        except InvalidJudgments as exc:
            raise click.BadParameter(str(exc), param_hint="--judgments") from None
    try:
        configs = parse_sweeps(sweeps, {"mode": mode} if mode else {})
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sweep") from None
    baseline_params = {"mode": "keyword"}
    todo = [baseline_params] + [c for c in configs if c != baseline_params]
    runs = []
    with open_engine(data_dir, config=engine_config(embedding_model, index_uri=index_uri)) as engine, tqdm(total=len(todo) * len(judged), desc="evaluating", unit=" queries",
                                         file=sys.stderr, disable=None) as progress:
        try:
            for params in todo:
                runs.append(evaluate(engine, judged, params, describe(params), on_query=lambda: progress.update(),
                                     gain=gain))
        except InvalidRequest as exc:
            raise click.BadParameter(str(exc), param_hint="--sweep") from None
    baseline, wanted = runs[0], [r for r in runs if r.params in configs]
    if as_json:
        for run in wanted:
            click.echo(json.dumps(run.summary()))
    else:
        click.echo(f"{len(baseline.per_query)} judged queries with a relevant judgment; "
                   f"{baseline.uninformative} with none, left out of the averages; nDCG gain {gain}")
        click.echo(f"{'configuration':40} {'queries':>7} " + " ".join(f"{m:>10}" for m in METRICS))
        for run in [baseline, *[r for r in wanted if r is not baseline]]:
            s = run.means()
            click.echo(f"{run.name[:40]:40} {len(run.per_query):>7} " + " ".join(f"{s[m]:>10.4f}" for m in METRICS))
    if report is not None:
        from ..eval.report import write_report

        try:
            paths = write_report(report, wanted, baseline, title=f"Relevance of {data_dir} on {source}")
        except ImportError:
            raise click.ClickException("plots need matplotlib: pip install 'shopsearch[eval]'") from None
        click.echo(f"report: {', '.join(str(p) for p in paths)}", err=True)


def _judgments_from_events(data_dir: Path) -> dict[str, dict[str, float]]:
    """Graded judgments from the search log's clicks, by a position-based click model (behaviour/clicks.py)."""
    from ..eval.train_ranker import judgments_from_events
    from .behaviour import open_event_store

    with open_event_store(data_dir) as store:
        judged = judgments_from_events(store)[0]
    if not judged:
        raise click.ClickException(f"the search log in {data_dir} has no query shown often enough to judge from clicks")
    return judged


@click.command("train-ranker")
@data_dir_option
@index_option
@click.option("--judgments", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV query,docid,rating, or TREC qrels with --queries-file.")
@click.option("--queries-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--from-events", "from_events", is_flag=True,
              help="Train on judgments from shoppers' clicks (a PBM click model); installed only if it beats the "
                   "current ranking (the installed ranker, else fusion) on held-out queries.")
@click.option("--since", type=float, default=None, help="With --from-events: unix seconds (inclusive) the log starts.")
@click.option("--until", type=float, default=None, help="With --from-events: unix seconds (exclusive) the log ends.")
@click.option("--folds", type=click.IntRange(2, 100), default=5, show_default=True,
              help="Cross-validation folds, split by query.")
@click.option("--dry-run", is_flag=True, help="Report the cross-validation only; keep the current ranker.")
def train_ranker_command(data_dir, index_uri, judgments, queries_file, from_events, since, until, folds, dry_run) -> None:
    """Fit a LightGBM LambdaMART second stage on hybrid candidates; search uses it once saved.

    With --from-events the judgments are the search log's clicks (POST /v1/ranker/train does the same), and
    the ranker is installed only if, on held-out queries, it beats what hybrid search answers with now."""
    from tqdm import tqdm

    from ..eval.evaluator import METRICS
    from ..eval.judgments import InvalidJudgments, load_judgments
    from ..eval.train_ranker import train_from_events, train_ranker

    if (judgments is None) == (not from_events):
        raise click.UsageError("give either --judgments FILE or --from-events")
    if not from_events and (since is not None or until is not None):
        raise click.UsageError("--since and --until choose the search log's window: they need --from-events")
    if since is not None and until is not None and since > until:
        raise click.BadParameter(f"--since ({since:g}) is after --until ({until:g})", param_hint="--since")
    from ..search.ranker import require_lightgbm

    try:
        require_lightgbm()  # before loading the model and computing every query's features
    except ShopsearchError as exc:
        raise fail(exc) from None
    if from_events:
        from .behaviour import open_event_store

        open_event_store(data_dir).close()  # "no search log yet", before loading any model
    else:
        try:
            judged = load_judgments(judgments, queries_file)
        except InvalidJudgments as exc:
            raise click.BadParameter(str(exc), param_hint="--judgments") from None
    with open_engine(data_dir, write=not dry_run, config=engine_config(index_uri=index_uri)) as engine, tqdm(
            desc="training", unit=" steps", file=sys.stderr, disable=None) as progress:
        try:
            if from_events:
                report = train_from_events(engine, folds, since, until, dry_run=dry_run, on_step=progress.update)
            else:
                ranker, runs = train_ranker(engine, judged, folds, on_step=progress.update)
        except (ShopsearchError, ValueError) as exc:
            raise fail(exc) from None
        progress.close()
        click.echo(f"{folds}-fold cross-validation by query (held-out queries only):")
        click.echo(f"{'':34} " + " ".join(f"{m:>10}" for m in METRICS))
        if from_events:
            rows = [("hybrid (fusion)", report.fusion), ("learned ranker (cross-validated)", report.ranker)]
            if report.current != "fusion":
                rows.insert(1, (f"{report.current} (current)", report.current_figures))
        else:
            rows = [(run.name, run.summary()) for run in runs.values()]
        for name, figures in rows:
            click.echo(f"{name:34} " + " ".join(f"{figures[m]:>10.4f}" for m in METRICS))
        if from_events:
            click.echo(f"judged from {report.sessions:,} searches: {report.queries} queries, {report.pairs:,} pairs")
            if report.installed:
                click.echo(f"saved the ranker in {data_dir}; hybrid search now uses it: {report.reason}")
            else:
                click.echo(f"not installed: {report.reason}")
        elif not dry_run:
            engine.set_ranker(ranker)
            click.echo(f"saved the ranker (trained on all {len(judged)} queries) in {data_dir}; hybrid search now uses it")
