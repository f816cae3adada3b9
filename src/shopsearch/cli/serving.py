"""Serving commands: demo (index the bundled sample, then serve it) and serve."""

from __future__ import annotations

import dataclasses
import signal
import tempfile
from importlib import resources
from pathlib import Path

import click

from ..index.ingest import FieldMapping, read_items
from ..index.items import Item
from ..search.engine import Engine
from ..serve.memory import limit_malloc_arenas
from ..serve.settings import ServeSettings
from .common import data_dir_option, embedding_model_option, engine_config, fail, index_option, open_engine
from .searching import print_response

DEMO_QUERIES = [
    ("wireless mouse", []),
    ("laptop bag", ["price<=60"]),
    ("AA batteries", ["brand=Duracell,Energizer,Verbatim"]),
    ("funda para portátil", []),  # Spanish: laptop case
    ("蓝牙音箱", []),  # Chinese: bluetooth speaker
]


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to build the demo index (default: a temporary directory).")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Then serve the sample over HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
def demo(data_dir, serve, host, port) -> None:
    """Index the bundled sample catalogue (400 Icecat products), answer a few queries, then serve it over HTTP."""
    limit_malloc_arenas(ServeSettings.from_env().malloc_arenas)  # before any thread starts
    sample = resources.files("shopsearch") / "data" / "sample_catalogue.jsonl.gz"
    with tempfile.TemporaryDirectory(prefix="shopsearch-demo-") as tmp:
        target = data_dir or Path(tmp)
        with resources.as_file(sample) as path:
            items = [item for _, item in read_items([path], FieldMapping.parse()) if isinstance(item, Item)]
        with open_engine(target, write=True, create=True) as engine:
            engine.upsert(items)
            click.echo(f"indexed {len(engine)} sample products into {target}\n")
            for query, filters in DEMO_QUERIES:
                response = engine.search(query, k=3, filters=filters)
                if filters:
                    click.echo(f"filters: {' AND '.join(filters)}")
                print_response(response)
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


@click.command()
@data_dir_option
@index_option
@click.option("--host", default=None, help="Default 127.0.0.1 (SHOPSEARCH_SERVE__HOST).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Default 8000.")
@embedding_model_option
@click.option("--rerank-model", default=None, metavar="MODEL", help="A reranker for /v1/rerank and search's rerank stage.")
@click.option("--api-key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="API keys, one per line: KEY [search|admin] [rate=N/s] [name=NAME], a bare KEY an admin key "
                   "(also SHOPSEARCH_API_KEYS=k1,k2 search). None: the API is open.")
@click.option("--cache", default=None, metavar="URL", help="memory (default), none, or redis://HOST:PORT/DB.")
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow browser calls from this origin (repeat).")
@click.option("--judgments-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Judgments files the web page's Evaluation tab offers (uploads work without).")
@click.option("--read-only", is_flag=True,
              help="A replica beside the writer: never write, follow the writer's batches (also when the lock is taken).")
def serve(data_dir, index_uri, host, port, embedding_model, rerank_model, api_key_file, cache, cors_origins, judgments_dir,
          read_only) -> None:
    """Serve search, OpenAI-compatible /v1/embeddings and Cohere/Jina-compatible /v1/rerank over HTTP."""
    from ..serve.settings import read_api_keys

    settings = ServeSettings.from_env()
    limit_malloc_arenas(settings.malloc_arenas)  # before any thread starts
    changes: dict = {"api_keys": read_api_keys(api_key_file) or settings.api_keys}
    if cache:
        changes["cache"] = cache
    if cors_origins:
        changes["cors_origins"] = tuple(cors_origins)
    if judgments_dir:
        changes["judgments_dir"] = str(judgments_dir)
    settings = dataclasses.replace(settings, **changes)
    with open_engine(data_dir, config=engine_config(embedding_model, rerank_model, index_uri), read_only=read_only) as engine:
        try:
            _serve(engine, settings, host or settings.host, port if port is not None else settings.port)
        except (ValueError, RuntimeError) as exc:  # a bad --cache URL, an unreachable Redis
            raise fail(exc) from None
