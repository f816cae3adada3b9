"""The search command, and how a response prints."""

from __future__ import annotations

import json

import click

from ..errors import InvalidRequest
from ..index.filters import InvalidFilter, parse_filter
from ..search.plan import FUSIONS, MODES
from ..search.response import SearchResponse
from .common import data_dir_option, embedding_model_option, engine_config, fail, index_option, open_engine


@click.command()
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
@click.option("--ranker-depth", type=click.IntRange(1, 1000), default=None,
              help="How many fused results the learned ranker reorders (default 100).")
@click.option("--understand/--no-understand", default=None,
              help="Read price wording, typos, synonyms and brand words in the query (default: on).")
@click.option("--sort", default=None, metavar="ORDER",
              help="relevance (default), price:asc, price:desc, newest, or FIELD:asc|desc over the relevant results.")
@embedding_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the full response as JSON.")
@click.option("--queries", type=click.File("r", encoding="utf-8"), default=None,
              help="Batch mode: one query per line; writes one JSON line per query, in order.")
def search(query, data_dir, index_uri, mode, k, filters, fusion, rrf_k, keyword_weight, vector_weight, offset, rerank,
           rerank_model, rerank_depth, ranker, ranker_depth, understand, sort, embedding_model, as_json, queries) -> None:
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
                   rerank_depth=rerank_depth, ranker=ranker, ranker_depth=ranker_depth, understand=understand, sort=sort)
    with open_engine(data_dir, config=engine_config(embedding_model, rerank_model, index_uri)) as engine:
        try:
            if queries is not None:
                for number, line in enumerate(queries, start=1):
                    text = line.rstrip("\n")
                    if not text.strip():
                        raise click.ClickException(f"{queries.name}:{number}: empty query")
                    response = engine.search(text, **options)
                    answer = response.to_dict()
                    line_out = {"query": text, "results": answer["results"]}
                    if "understood" in answer:
                        line_out["understood"] = answer["understood"]
                    click.echo(json.dumps(line_out, ensure_ascii=False))
                return
            response = engine.search(query, **options)
        except InvalidRequest as exc:
            raise fail(exc) from None
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_response(response)


def print_response(response: SearchResponse) -> None:
    click.echo(f"{len(response.hits)} results for {response.query!r} ({response.mode}, {response.took_ms:.1f} ms)")
    for warning in response.warnings:
        click.echo(f"warning: {warning}", err=True)
    understood = response.understood
    if understood is not None:
        read = [f"{name} {' '.join(f'{op} {v:g}' if isinstance(v, float) else f'{op} {v}' for op, v in bounds.items())}"
                for name, bounds in understood.filters.items()]
        read += [f"{e['field']} {e['value']!r} ({e['use']})" for e in understood.entities if e["use"] != "none"]
        read += [f"{s['phrase']} = {', '.join(s['alternatives'])}" for s in understood.synonyms]
        read += [f"{t['from']} -> {' / '.join(t['to'])} ({t['source']})" for t in understood.translations]
        if understood.text != response.query or read:
            click.echo(f"understood: {understood.text!r}" + (f"; {'; '.join(read)}" if read else ""))
        if understood.did_you_mean:
            click.echo(f"did you mean: {understood.did_you_mean}")
    if response.rules_fired:
        click.echo(f"rules fired: {', '.join(response.rules_fired)}")
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
        moved = f"  rules {', '.join(why.rules)}" if why.rules else ""
        click.echo(f"     {' + '.join(legs) or 'no leg'}" + (f"  matched {matched}" if matched else "") + moved)
