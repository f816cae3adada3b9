"""The `shopsearch` command line: index, delete, stats, search, demo."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

import click

from ..config import EngineConfig
from ..index.filters import InvalidFilter, parse_filter
from ..index.ingest import BadRecord, FieldMapping, UnreadableFile, read_items
from ..index.items import Item
from ..models import ModelUnavailable
from ..search.engine import DataDirError, Engine, InvalidRequest, MODES, SearchResponse
from ..search.fusion import FUSIONS
from ..serve.settings import ServeSettings

EXIT_SKIPPED = 1  # some records were bad and skipped, or some ids were not found

data_dir_option = click.option(
    "--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Index directory."
)
embedding_model_option = click.option(
    "--embedding-model", default=None, metavar="MODEL",
    help="default, e5-nano, qwen3:NAME|FOLDER, st:NAME, openai:URL#MODEL, or a folder (the index's model).")


index_option = click.option(
    "--index", "index_uri", default=None, metavar="URI",
    help="Where the vector leg lives: embedded (default, hnswlib in the data dir), milvus-lite:PATH, or "
         "milvus://HOST:19530 (SHOPSEARCH_VECTOR__BACKEND/URI). The catalogue stays in the data dir.")


def _config(embedding_model: str | None = None, rerank_model: str | None = None,
            index_uri: str | None = None) -> EngineConfig:
    config = EngineConfig.from_env()
    changes = {}
    if embedding_model:
        changes["embedder"] = embedding_model
    if rerank_model is not None:
        changes["reranker"] = rerank_model
    if changes:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **changes))
    if index_uri:
        if index_uri == "embedded":
            vector = dataclasses.replace(config.vector, backend="hnsw", uri="")
        elif index_uri.startswith(("milvus://", "milvus-lite:")):
            vector = dataclasses.replace(config.vector, backend="milvus", uri=index_uri)
        else:
            raise click.BadParameter("embedded, milvus-lite:PATH or milvus://HOST:19530", param_hint="--index")
        config = dataclasses.replace(config, vector=vector)
    return config


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shopsearch")
def cli() -> None:
    """Multilingual product search: keyword, vector and hybrid, with filters."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@data_dir_option
@index_option
@click.option("--map", "maps", multiple=True, metavar="CANON=SRC[,SRC...]",
              help="Take a canonical field (id, title, description, brand, category, price) from source field(s).")
@click.option("--price-scale", type=float, default=1.0, show_default=True, help="Multiply prices (0.01 for cents).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None, help="Items per committed batch.")
@embedding_model_option
def index(files, data_dir, index_uri, maps, price_scale, batch_size, embedding_model) -> None:
    """Index catalogue FILES (JSONL, JSON, CSV, Parquet; plain, .gz or .zip).

    Items are upserted by id. Bad records are reported with file and line and
    skipped; the exit code is 1 if any were. Each committed batch is printed;
    re-running the same command after a crash completes the job.
    """
    try:
        mapping = FieldMapping.parse(maps, price_scale)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    skipped = indexed = unchanged = batches = 0
    started = time.perf_counter()
    from tqdm import tqdm

    with _open(data_dir, write=True, create=True, config=_config(embedding_model, index_uri=index_uri)) as engine:
        batch_size = batch_size or engine.config.ingest_batch_size
        with tqdm(desc="indexing", unit=" items", file=sys.stderr, disable=None) as progress:
            for batch, bad in _batches(_readable(read_items(files, mapping)), batch_size):
                for record in bad:
                    skipped += 1
                    progress.write(f"skipped {record}", file=sys.stderr)
                if batch:
                    result = engine.upsert(batch)
                    indexed += result.count
                    unchanged += result.unchanged
                    batches += 1
                    progress.update(len(batch))
                    rate = indexed / max(time.perf_counter() - started, 1e-9)
                    # The line is printed only once the batch is durable and searchable.
                    click.echo(f"committed batch {batches}: {result.count} items ({indexed} so far, {rate:,.0f} items/s)"
                               + (f"; {result.unchanged} of them were already indexed" if result.unchanged else ""))
    click.echo(f"indexed {indexed} items into {data_dir}" + (f" ({unchanged} were already indexed)" if unchanged else "")
               + (f"; skipped {skipped} bad records" if skipped else ""))
    if skipped:
        sys.exit(EXIT_SKIPPED)


def _readable(records: Iterable) -> Iterator:
    """Records, with a file that cannot be read at all turned into a one-line error."""
    try:
        yield from records
    except UnreadableFile as exc:
        raise _fail(exc) from None


def _batches(records: Iterable, size: int) -> Iterator[tuple[list[Item], list[BadRecord]]]:
    batch: list[Item] = []
    bad: list[BadRecord] = []
    for _, record in records:
        if isinstance(record, BadRecord):
            bad.append(record)
            continue
        batch.append(record)
        if len(batch) >= size:
            yield batch, bad
            batch, bad = [], []
    if batch or bad:
        yield batch, bad


@cli.command()
@click.argument("ids", nargs=-1, required=True)
@data_dir_option
@index_option
def delete(ids, data_dir, index_uri) -> None:
    """Delete items by id. Exit code 1 if some ids were not in the index."""
    with _open(data_dir, write=True, config=_config(index_uri=index_uri)) as engine:
        missing = [i for i in dict.fromkeys(ids) if engine.get(i) is None]
        result = engine.delete(ids)
    click.echo(f"deleted {result.count} items")
    if missing:
        click.echo(f"not found: {', '.join(missing)}", err=True)
        sys.exit(EXIT_SKIPPED)


@cli.command()
@data_dir_option
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(data_dir, index_uri, as_json) -> None:
    """Item count, index sizes and model of a data directory."""
    with _open(data_dir, config=_config(index_uri=index_uri)) as engine:
        info = engine.stats()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"data dir       {info['data_dir']}")
    click.echo(f"items          {info['items']}")
    click.echo(f"model          {info['model']['name']} ({info['model']['dim']} dims)")
    click.echo(f"keyword index  {info['keyword_index']['docs']} docs, {_size(info['keyword_index']['bytes'])}")
    click.echo(f"vector index   {info['vector_index']['vectors']} vectors, {_size(info['vector_index']['bytes'])}")
    click.echo(f"catalogue      {_size(info['catalogue_bytes'])}")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@cli.command()
@click.argument("query", required=False)
@data_dir_option
@index_option
@click.option("--mode", type=click.Choice(MODES), default=None, help="Default: hybrid.")
@click.option("--k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--filter", "filters", multiple=True, metavar="EXPR",
              help="e.g. 'price<=50', 'brand=HP,Lenovo', 'price=10..50', 'brand!=HP'. Repeat to AND.")
@click.option("--fusion", type=click.Choice(FUSIONS), default=None)
@click.option("--rrf-k", type=float, default=None)
@click.option("--keyword-weight", type=float, default=None)
@click.option("--vector-weight", type=float, default=None)
@click.option("--offset", type=click.IntRange(0, 1000), default=0, show_default=True, help="Skip this many results (paging).")
@click.option("--rerank/--no-rerank", default=None, help="Rerank the top results with the reranker model (default: when one is configured).")
@click.option("--rerank-model", default=None, metavar="MODEL",
              help="qwen3:NAME|FOLDER, st:NAME, cohere:URL#MODEL, tei:URL, or a folder. None configured: no rerank stage.")
@click.option("--rerank-depth", type=click.IntRange(1, 1000), default=None, help="How many fused results the reranker reads (default 100).")
@click.option("--ranker/--no-ranker", default=None, help="Use the learned ranker (default: when the index has one).")
@embedding_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the full response as JSON.")
@click.option("--queries", type=click.File("r", encoding="utf-8"), default=None,
              help="Batch mode: one query per line; writes one JSON line per query, in order.")
def search(query, data_dir, index_uri, mode, k, filters, fusion, rrf_k, keyword_weight, vector_weight, offset, rerank,
           rerank_model, rerank_depth, ranker, embedding_model, as_json, queries) -> None:
    """Search the index for QUERY (or every line of --queries FILE)."""
    if (query is None) == (queries is None):
        raise click.UsageError("give either a QUERY or --queries FILE")
    try:
        for f in filters:
            parse_filter(f)
    except InvalidFilter as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    options = dict(mode=mode, k=k, offset=offset, filters=list(filters), fusion=fusion, rrf_k=rrf_k,
                   keyword_weight=keyword_weight, vector_weight=vector_weight, rerank=rerank,
                   rerank_depth=rerank_depth, ranker=ranker)
    with _open(data_dir, config=_config(embedding_model, rerank_model, index_uri)) as engine:
        try:
            if queries is not None:
                for number, line in enumerate(queries, start=1):
                    text = line.rstrip("\n")
                    if not text.strip():
                        raise click.ClickException(f"{queries.name}:{number}: empty query")
                    response = engine.search(text, **options)
                    click.echo(json.dumps({"query": text, "results": response.to_dict()["results"]}, ensure_ascii=False))
                return
            response = engine.search(query, **options)
        except InvalidRequest as exc:
            raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_response(response)


def _print_response(response: SearchResponse) -> None:
    click.echo(f"{len(response.hits)} results for {response.query!r} ({response.mode}, {response.took_ms:.1f} ms)")
    for warning in response.warnings:
        click.echo(f"warning: {warning}", err=True)
    for rank, hit in enumerate(response.hits, start=1):
        item, why = hit.item, hit.explanation
        price = f"  {item['price']:.2f}" if item.get("price") is not None else ""
        click.echo(f"{rank:>3}. {hit.score:8.4f}  {hit.id}  {item['title'][:90]}{price}")
        legs = []
        if why.keyword_rank is not None:
            legs.append(f"keyword #{why.keyword_rank} ({why.keyword_score:.2f})")
        if why.vector_rank is not None:
            legs.append(f"vector #{why.vector_rank} ({why.vector_score:.3f})")
        if why.rerank_rank is not None:
            legs.append(f"rerank #{why.rerank_rank} ({why.rerank_score:.3f})")
        matched = "; ".join(f"{field}: {', '.join(terms)}" for field, terms in why.matched_terms.items())
        click.echo(f"     {' + '.join(legs) or 'no leg'}" + (f"  matched {matched}" if matched else ""))


class _open:
    """Open a data directory for a command, turning failures into one-line errors."""

    def __init__(self, data_dir: Path, write: bool = False, create: bool = False, config: EngineConfig | None = None) -> None:
        self.data_dir, self.write, self.create, self.config = data_dir, write, create, config

    def __enter__(self) -> Engine:
        try:
            self.engine = Engine.open(self.data_dir, self.config, create=self.create)
        except (DataDirError, ModelUnavailable, ValueError) as exc:
            raise _fail(exc) from None
        if self.write and self.engine.read_only:
            self.engine.close()
            raise click.ClickException(f"{self.data_dir} is being written by another process; try again later")
        return self.engine

    def __exit__(self, *exc) -> None:
        self.engine.close()


@cli.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", default="default", show_default=True, metavar="MODEL",
              help="default, e5-nano, qwen3:NAME|FOLDER, st:NAME, openai:URL#MODEL, or a folder.")
@click.option("--query", "as_query", is_flag=True, help="Embed as search queries (with the model's query instruction).")
@click.option("--dimensions", type=click.IntRange(1, 65536), default=None, help="Matryoshka: keep this many dimensions.")
@click.option("--json", "as_json", is_flag=True, help='Print {"model", "data": [{"embedding": [...]}]}.')
def embed(texts, model, as_query, dimensions, as_json) -> None:
    """Embed TEXTS with a model and print the vectors."""
    from ..models import create_embedder

    try:
        embedder = create_embedder(_config(model).model)
        if dimensions and not getattr(embedder, "matryoshka", False):
            raise ValueError(f"{embedder.name} has a fixed size of {embedder.dim}; --dimensions needs a Matryoshka model such as qwen3")
        method = embedder.embed_queries if as_query else embedder.embed_documents
        vectors = method(list(texts), dimensions=dimensions) if dimensions else method(list(texts))
    except (ModelUnavailable, ValueError, TypeError) as exc:
        raise _fail(exc) from None
    if as_json:
        data = [{"index": i, "embedding": [round(float(x), 7) for x in v]} for i, v in enumerate(vectors)]
        click.echo(json.dumps({"model": embedder.name, "data": data}))
        return
    for text, vector in zip(texts, vectors):
        head = ", ".join(f"{x:.4f}" for x in vector[:4])
        click.echo(f"{len(vector)} dims  [{head}, ...]  {text[:60]}")


@cli.command()
@click.argument("query")
@click.argument("documents", nargs=-1, required=True)
@click.option("--model", default=None, metavar="MODEL",
              help="qwen3:NAME|FOLDER, st:NAME, cohere:URL#MODEL, tei:URL, or a folder (default: the configured reranker).")
@click.option("--instruction", default=None, help="The task instruction (Qwen3-Reranker reads it).")
@click.option("--json", "as_json", is_flag=True, help='Print {"model", "results": [{"index", "relevance_score"}]} in input order.')
def rerank(query, documents, model, instruction, as_json) -> None:
    """Score DOCUMENTS against QUERY with a reranker model."""
    from ..models import create_reranker

    try:
        reranker = create_reranker(_config(rerank_model=model).model)
        if reranker is None:
            raise click.ClickException("no reranker configured: give --model (for example qwen3:Qwen/Qwen3-Reranker-0.6B); "
                                       "shopsearch has no built-in reranker")
        scores = reranker.score(query, list(documents), instruction)
    except (ModelUnavailable, ValueError) as exc:
        raise _fail(exc) from None
    results = [{"index": i, "relevance_score": float(score)} for i, score in enumerate(scores)]
    if as_json:
        click.echo(json.dumps({"model": reranker.name, "results": results}))
        return
    for row in sorted(results, key=lambda r: -r["relevance_score"]):
        click.echo(f"{row['relevance_score']:.4f}  [{row['index']}] {documents[row['index']][:80]}")


@cli.command("eval")
@data_dir_option
@index_option
@click.option("--judgments", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV query,docid,rating (0 = irrelevant), or TREC qrels with --queries-file.")
@click.option("--queries-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="For TREC qrels: 'qid<TAB>query text' per line.")
@click.option("--mode", type=click.Choice(MODES), default=None, help="Default: the configured mode (hybrid).")
@click.option("--sweep", "sweeps", multiple=True, metavar="KEY=V1,V2",
              help="Evaluate every combination, e.g. --sweep mode=keyword,vector,hybrid --sweep vector_weight=0.2,0.5.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {queries, ndcg@10, mrr@10, recall@100, map@100, judged@10} (one line per configuration).")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write report.md, results.json and metrics.png here.")
@embedding_model_option
def eval_command(data_dir, index_uri, judgments, queries_file, mode, sweeps, as_json, report, embedding_model) -> None:
    """Measure ranking quality against human judgments (nDCG@10, MRR@10, Recall@100, MAP@100, judged@10)."""
    from tqdm import tqdm

    from ..eval.evaluator import METRICS, describe, evaluate, parse_sweeps
    from ..eval.judgments import InvalidJudgments, load_judgments

    try:
        judged = load_judgments(judgments, queries_file)
    except InvalidJudgments as exc:
        raise click.BadParameter(str(exc), param_hint="--judgments") from None
    try:
        configs = parse_sweeps(sweeps, {"mode": mode} if mode else {})
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sweep") from None
    baseline_params = {"mode": "keyword"}
    todo = [baseline_params] + [c for c in configs if c != baseline_params]
    runs = []
    with _open(data_dir, config=_config(embedding_model, index_uri=index_uri)) as engine, tqdm(total=len(todo) * len(judged), desc="evaluating", unit=" queries",
                                         file=sys.stderr, disable=None) as progress:
        try:
            for params in todo:
                runs.append(evaluate(engine, judged, params, describe(params), on_query=lambda: progress.update()))
        except InvalidRequest as exc:
            raise click.BadParameter(str(exc), param_hint="--sweep") from None
    baseline, wanted = runs[0], [r for r in runs if r.params in configs]
    if as_json:
        for run in wanted:
            click.echo(json.dumps(run.summary()))
    else:
        click.echo(f"{'configuration':40} {'queries':>7} " + " ".join(f"{m:>10}" for m in METRICS))
        for run in [baseline, *[r for r in wanted if r is not baseline]]:
            s = run.summary()
            click.echo(f"{run.name[:40]:40} {s['queries']:>7} " + " ".join(f"{s[m]:>10.4f}" for m in METRICS))
    if report is not None:
        from ..eval.report import write_report

        try:
            paths = write_report(report, wanted, baseline, title=f"Relevance of {data_dir} on {judgments.name}")
        except ImportError:
            raise click.ClickException("plots need matplotlib: pip install 'shopsearch[eval]'") from None
        click.echo(f"report: {', '.join(str(p) for p in paths)}", err=True)


@cli.command("train-ranker")
@data_dir_option
@index_option
@click.option("--judgments", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV query,docid,rating, or TREC qrels with --queries-file.")
@click.option("--queries-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--folds", type=click.IntRange(2, 100), default=5, show_default=True,
              help="Cross-validation folds, split by query.")
@click.option("--dry-run", is_flag=True, help="Report the cross-validation only; keep the current ranker.")
def train_ranker_command(data_dir, index_uri, judgments, queries_file, folds, dry_run) -> None:
    """Fit a LightGBM LambdaMART second stage on hybrid candidates; search uses it once saved."""
    from tqdm import tqdm

    from ..eval.evaluator import METRICS
    from ..eval.judgments import InvalidJudgments, load_judgments
    from ..eval.train_ranker import train_ranker

    try:
        judged = load_judgments(judgments, queries_file)
    except InvalidJudgments as exc:
        raise click.BadParameter(str(exc), param_hint="--judgments") from None
    with _open(data_dir, write=not dry_run, config=_config(index_uri=index_uri)) as engine, tqdm(
            total=len(judged) + folds, desc="training", file=sys.stderr, disable=None) as progress:
        try:
            ranker, runs = train_ranker(engine, judged, folds, on_step=progress.update)
        except (ValueError, ModelUnavailable) as exc:
            raise _fail(exc) from None
        click.echo(f"{folds}-fold cross-validation by query (held-out queries only):")
        click.echo(f"{'':34} " + " ".join(f"{m:>10}" for m in METRICS))
        for run in runs.values():
            s = run.summary()
            click.echo(f"{run.name:34} " + " ".join(f"{s[m]:>10.4f}" for m in METRICS))
        if not dry_run:
            engine.set_ranker(ranker)
            click.echo(f"saved the ranker (trained on all {len(judged)} queries) in {data_dir}; hybrid search now uses it")


DEMO_QUERIES = [
    ("wireless mouse", []),
    ("laptop bag", ["price<=60"]),
    ("AA batteries", ["brand=Duracell,Energizer,Verbatim"]),
    ("funda para portátil", []),  # Spanish: laptop case
    ("蓝牙音箱", []),  # Chinese: bluetooth speaker
]


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to build the demo index (default: a temporary directory).")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Then serve the sample over HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
def demo(data_dir, serve, host, port) -> None:
    """Index the bundled sample catalogue (400 Icecat products), answer a few queries, then serve it over HTTP."""
    sample = resources.files("shopsearch") / "data" / "sample_catalogue.jsonl.gz"
    with tempfile.TemporaryDirectory(prefix="shopsearch-demo-") as tmp:
        target = data_dir or Path(tmp)
        with resources.as_file(sample) as path:
            items = [item for _, item in read_items([path], FieldMapping.parse()) if isinstance(item, Item)]
        with _open(target, write=True, create=True) as engine:
            engine.upsert(items)
            click.echo(f"indexed {len(engine)} sample products into {target}\n")
            for query, filters in DEMO_QUERIES:
                response = engine.search(query, k=3, filters=filters)
                if filters:
                    click.echo(f"filters: {' AND '.join(filters)}")
                _print_response(response)
                click.echo()
            if serve:
                with resources.as_file(resources.files("shopsearch") / "data" / "judgments") as judged:
                    settings = dataclasses.replace(ServeSettings.from_env(), judgments_dir=str(judged))
                    _serve(engine, settings, host, port)


def _serve(engine: Engine, settings, host: str, port: int) -> None:
    import uvicorn

    from ..serve.app import create_app

    app = create_app(engine, settings)
    click.echo(f"serving {len(engine)} products at http://{host}:{port}/  (API docs: http://{host}:{port}/docs; "
               "Ctrl-C stops)", err=True)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info",
                                           timeout_graceful_shutdown=settings.graceful_shutdown_s))

    def stopped(signum, frame):
        raise _Stopped()

    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal; ending
    # here instead lets the caller close the index cleanly and exit 0.
    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        server.run()
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped: in-flight requests answered, index closed", err=True)


class _Stopped(Exception):
    pass


@cli.command()
@data_dir_option
@index_option
@click.option("--host", default=None, help="Default 127.0.0.1 (SHOPSEARCH_SERVE__HOST).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Default 8000.")
@embedding_model_option
@click.option("--rerank-model", default=None, metavar="MODEL", help="A reranker for /v1/rerank and search's rerank stage.")
@click.option("--api-key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="API keys, one per line (also SHOPSEARCH_API_KEYS=k1,k2). None: the API is open.")
@click.option("--cache", default=None, metavar="URL", help="memory (default), none, or redis://HOST:PORT/DB.")
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow browser calls from this origin (repeat).")
@click.option("--judgments-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Judgments files the web page's Evaluation tab offers (uploads work without).")
def serve(data_dir, index_uri, host, port, embedding_model, rerank_model, api_key_file, cache, cors_origins, judgments_dir) -> None:
    """Serve search, OpenAI-compatible /v1/embeddings and Cohere/Jina-compatible /v1/rerank over HTTP."""
    from ..serve.settings import read_api_keys

    settings = ServeSettings.from_env()
    changes: dict = {"api_keys": read_api_keys(api_key_file) or settings.api_keys}
    if cache:
        changes["cache"] = cache
    if cors_origins:
        changes["cors_origins"] = tuple(cors_origins)
    if judgments_dir:
        changes["judgments_dir"] = str(judgments_dir)
    settings = dataclasses.replace(settings, **changes)
    with _open(data_dir, config=_config(embedding_model, rerank_model, index_uri)) as engine:
        try:
            _serve(engine, settings, host or settings.host, port if port is not None else settings.port)
        except (ValueError, RuntimeError) as exc:  # a bad --cache URL, an unreachable Redis
            raise _fail(exc) from None


if __name__ == "__main__":  # pragma: no cover
    cli()
