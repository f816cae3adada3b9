"""Model commands: embed and rerank texts with any model string."""

from __future__ import annotations

import json

import click

from ..errors import ShopsearchError
from .common import engine_config, fail


@click.command()
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
        embedder = create_embedder(engine_config(model).model)
        if dimensions and not embedder.matryoshka:
            raise ValueError(f"{embedder.name} has a fixed size of {embedder.dim}; --dimensions needs a Matryoshka model such as qwen3")
        method = embedder.embed_queries if as_query else embedder.embed_documents
        vectors = method(list(texts), dimensions=dimensions)
    except (ShopsearchError, ValueError, TypeError) as exc:
        raise fail(exc) from None
    if as_json:
        data = [{"index": i, "embedding": [round(float(x), 7) for x in v]} for i, v in enumerate(vectors)]
        click.echo(json.dumps({"model": embedder.name, "data": data}))
        return
    for text, vector in zip(texts, vectors):
        head = ", ".join(f"{x:.4f}" for x in vector[:4])
        click.echo(f"{len(vector)} dims  [{head}, ...]  {text[:60]}")


@click.command()
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
        reranker = create_reranker(engine_config(rerank_model=model).model)
        if reranker is None:
            raise click.ClickException("no reranker configured: give --model (for example qwen3:Qwen/Qwen3-Reranker-0.6B); "
                                       "shopsearch has no built-in reranker")
        scores = reranker.score(query, list(documents), instruction)
    except (ShopsearchError, ValueError) as exc:
        raise fail(exc) from None
    results = [{"index": i, "relevance_score": float(score)} for i, score in enumerate(scores)]
    if as_json:
        click.echo(json.dumps({"model": reranker.name, "results": results}))
        return
    for row in sorted(results, key=lambda r: -r["relevance_score"]):
        click.echo(f"{row['relevance_score']:.4f}  [{row['index']}] {documents[row['index']][:80]}")
