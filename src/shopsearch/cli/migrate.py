"""`shopsearch migrate`: another embedding model's vectors, built while serving, swapped in only if they are not worse."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import ShopsearchError
from ..models import create_embedder
from .common import data_dir_option, engine_config, fail, open_engine

SWAP_TIMEOUT_S = 600.0


@click.command("migrate")
@data_dir_option
@click.option("--embedding-model", "model", default=None, metavar="MODEL",
              help="The model to migrate to (a model string, as --embedding-model elsewhere).")
@click.option("--judgments", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV query,docid,rating (or TREC qrels with --queries-file) to evaluate both models on.")
@click.option("--queries-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--judgments-from-events", "from_events", is_flag=True, help="Judge by shoppers' clicks (a PBM click model).")
@click.option("--mode", type=click.Choice(["vector", "hybrid"]), default="hybrid", show_default=True,
              help="The searches both models are evaluated with.")
@click.option("--force", is_flag=True, help="Swap even if the new model's nDCG@10 is lower (or without judgments).")
@click.option("--rollback", is_flag=True, help="Swap the previous model's vectors back in (kept since the last swap).")
@click.option("--cleanup", is_flag=True, help="Delete the second model's vectors (no rollback after this).")
def migrate(data_dir, model, judgments, queries_file, from_events, mode, force, rollback, cleanup) -> None:
    """Change the embedding model of a live data directory, gated by an evaluation.

    The new model's vectors are built beside the live ones (DATA_DIR/migration) while a server goes
    on answering and writing: what is written meanwhile is embedded with the new model too. Both are
    evaluated on the judgments (nDCG@10 and more, printed), and the new vectors are swapped in, at
    once, only if the new nDCG@10 is not lower (or with --force). With a server writing DATA_DIR the
    server makes the swap; otherwise this command does. The previous model's vectors are kept for
    `--rollback` until `--cleanup`. Run it again to resume an interrupted build."""
    if sum((model is not None, rollback, cleanup)) != 1:
        raise click.UsageError("give one of --embedding-model MODEL, --rollback or --cleanup")
    with open_engine(data_dir, config=engine_config()) as engine:
        vectors = engine.vector_set()
        if cleanup:
            if vectors is None:
                raise click.ClickException(f"{data_dir} holds no second model's vectors")
            vectors.remove()
            click.echo(f"removed the vectors of {vectors.model['name']} ({vectors.role}); no rollback to it now")
            return
        if rollback:
            if vectors is None or vectors.role != "previous":
                raise click.ClickException(f"{data_dir} holds no previous model's vectors to roll back to")
            _swap(engine, vectors)
            click.echo(f"rolled back to {vectors.model['name']}")
            return
        try:
            embedder = create_embedder(engine.config.model, model)
        except (ShopsearchError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--embedding-model") from None
        judged = _judgments(data_dir, judgments, queries_file, from_events, force)
        vectors = _candidate(engine, vectors, model, embedder)
        _build(engine, vectors, embedder)
        if judged is not None:
            old, new = _evaluate(engine, vectors, embedder, judged, mode)
            if new < old and not force:
                click.echo(f"not swapped: nDCG@10 {new:.4f} with {embedder.name} is below {old:.4f}; "
                           f"--force swaps anyway, --cleanup removes its vectors")
                sys.exit(1)
        vectors.catch_up(engine.backends, embedder)  # the writes made meanwhile, before writes are held for the swap
        held = _swap(engine, vectors, embedder)
        click.echo(f"swapped in {embedder.name} (writes held {held:.2f} s); the previous model's vectors are kept "
                   "for --rollback until --cleanup")


def _candidate(engine, vectors, model: str, embedder):
    """The candidate vector set of `model`: the one being built, or a new one."""
    from ..index.migration import VectorSet, refuse_remote

    try:
        refuse_remote(engine.backends)  # before any embedding
    except ShopsearchError as exc:
        raise fail(exc) from None
    if embedder.name == engine.embedder.name and embedder.dim == engine.embedder.dim:
        raise click.BadParameter(f"{engine.data_dir} already uses {embedder.name}", param_hint="--embedding-model")
    if vectors is not None and vectors.role == "candidate" and vectors.spec == model and vectors.matches(embedder):
        click.echo(f"resuming the vectors of {embedder.name} at sequence {vectors.seq}", err=True)
        return vectors
    if vectors is not None:
        raise click.ClickException(f"{engine.data_dir} already holds vectors of {vectors.model['name']} "
                                   f"({vectors.role}): `shopsearch migrate --cleanup` first")
    return VectorSet.create(engine.data_dir, model, {"name": embedder.name, "dim": embedder.dim})


def _judgments(data_dir: Path, judgments, queries_file, from_events: bool, force: bool):
    from ..eval.judgments import InvalidJudgments, load_judgments
    from .relevance import _judgments_from_events

    if judgments is not None and from_events:
        raise click.UsageError("give --judgments FILE or --judgments-from-events, not both")
    if from_events:
        return _judgments_from_events(data_dir)
    if judgments is None:
        if not force:
            raise click.UsageError("give --judgments FILE or --judgments-from-events (or --force to swap unevaluated)")
        return None
    try:
        return load_judgments(judgments, queries_file)
    except InvalidJudgments as exc:
        raise click.BadParameter(str(exc), param_hint="--judgments") from None


def _build(engine, vectors, embedder) -> None:
    from tqdm import tqdm

    with tqdm(total=len(engine), desc=f"embedding with {embedder.name}", unit=" texts", file=sys.stderr,
              disable=None) as progress:
        embedded = vectors.catch_up(engine.backends, embedder, progress.update)
    click.echo(f"{embedded} texts embedded with {embedder.name}; its vectors are at sequence {vectors.seq}", err=True)


def _evaluate(engine, vectors, embedder, judged, mode: str) -> tuple[float, float]:
    """Both models on the same searches (learned ranker and rules off: the ranker learnt the old model's scores)."""
    from ..eval.evaluator import METRICS, evaluate
    from ..search.migration import CandidateSearch

    params = {"mode": mode, "ranker": False, "rules": False, "rerank": False}
    vectors.catch_up(engine.backends, embedder)  # what was written during the build
    candidate = CandidateSearch(engine.backends, vectors, embedder)
    try:
        runs = [evaluate(engine, judged, params, engine.embedder.name), evaluate(candidate, judged, params, embedder.name)]
    finally:
        candidate.close()
    click.echo(f"{len(runs[0].per_query)} judged queries, {mode} search; nDCG gain exponential")
    click.echo(f"{'model':40} " + " ".join(f"{m:>10}" for m in METRICS))
    for run in runs:
        means = run.means()
        click.echo(f"{run.name[:40]:40} " + " ".join(f"{means[m]:>10.4f}" for m in METRICS))
    return runs[0].means()["ndcg@10"], runs[1].means()["ndcg@10"]


def _swap(engine, vectors, embedder=None) -> float:
    """Swap `vectors` in, here or by the server writing the directory: how long writes were held."""
    import time

    from ..search.migration import request_swap

    if engine.read_only:  # a server writes the directory: it makes the swap
        try:
            answer = request_swap(engine.data_dir, vectors.spec, SWAP_TIMEOUT_S)
        except ShopsearchError as exc:
            raise fail(exc) from None
        if not answer.get("ok"):
            raise click.ClickException(f"the server did not swap: {answer.get('error')}")
        return float(answer.get("writes_held_s", 0.0))
    try:
        embedder = embedder or create_embedder(engine.config.model, vectors.spec)
        started = time.monotonic()
        engine.swap_model(vectors, embedder)
        return time.monotonic() - started
    except (ShopsearchError, ValueError) as exc:
        raise fail(exc) from None
