"""Query understanding's commands: the shop's synonyms, and suggestions for a typed prefix."""

from __future__ import annotations

import json

import click

from ..text.synonyms import InvalidSynonyms, parse_synonyms
from .common import data_dir_option, embedding_model_option, engine_config, group_data_dir, open_engine, optional_data_dir_option


@click.group()
@optional_data_dir_option
@click.pass_context
def synonyms(ctx: click.Context, data_dir) -> None:
    """The managed synonyms: `set FILE` replaces them, `list` prints them, `clear` removes them.

    FILE has one entry per line: 'tv, television, 电视' (each finds the others) or
    'laptop => notebook' (one way); '#' starts a comment. The directory goes before or after
    the subcommand: `synonyms --data-dir D set FILE` or `synonyms set FILE --data-dir D`."""
    ctx.obj = data_dir


@synonyms.command("set")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@optional_data_dir_option
@embedding_model_option
def set_synonyms(file, data_dir, embedding_model) -> None:
    """Replace the synonyms with FILE's entries (a bad line: nothing is applied)."""
    data_dir = group_data_dir(data_dir)
    try:
        rules = parse_synonyms(file.read())
    except InvalidSynonyms as exc:
        raise click.ClickException(f"{file.name}: {exc}; nothing was applied") from None
    with open_engine(data_dir, write=True, config=engine_config(embedding_model)) as engine:
        engine.set_synonyms(rules)
    click.echo(f"{len(rules)} synonym entries set in {data_dir}")


@synonyms.command("list")
@optional_data_dir_option
@embedding_model_option
def list_synonyms(data_dir, embedding_model) -> None:
    """Print the synonyms as a synonyms file."""
    data_dir = group_data_dir(data_dir)
    with open_engine(data_dir, config=engine_config(embedding_model)) as engine:
        click.echo(engine.synonyms.to_text(), nl=False)


@synonyms.command("clear")
@optional_data_dir_option
@embedding_model_option
def clear_synonyms(data_dir, embedding_model) -> None:
    """Remove every synonym."""
    data_dir = group_data_dir(data_dir)
    with open_engine(data_dir, write=True, config=engine_config(embedding_model)) as engine:
        engine.set_synonyms(())
    click.echo(f"synonyms cleared in {data_dir}")


@click.command()
@click.argument("prefix")
@data_dir_option
@click.option("--k", type=click.IntRange(1, 100), default=8, show_default=True)
@embedding_model_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def suggest(prefix, data_dir, k, embedding_model, as_json) -> None:
    """Completions of PREFIX from the catalogue's titles, brands and categories, and the shop's popular searches."""
    with open_engine(data_dir, config=engine_config(embedding_model)) as engine:
        engine.refresh_popular()  # a server keeps them in memory; a one-off command reads them first
        found = engine.suggest(prefix, k)
    for suggestion in found:
        if as_json:
            click.echo(json.dumps({"text": suggestion.text, "kind": suggestion.kind, "score": suggestion.score},
                                  ensure_ascii=False))
        else:
            click.echo(f"{suggestion.text}\t{suggestion.kind}")
