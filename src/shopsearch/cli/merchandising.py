"""Merchandising's commands: the shop's rules (search/rules.py), and similar items."""

from __future__ import annotations

import json

import click

from ..errors import InvalidRequest
from ..index.filters import InvalidFilter, parse_filter
from .common import (
    data_dir_option,
    embedding_model_option,
    engine_config,
    fail,
    group_data_dir,
    open_engine,
    optional_data_dir_option,
)


@click.group()
@optional_data_dir_option
@click.pass_context
def rules(ctx: click.Context, data_dir) -> None:
    """The merchandising rules: `set FILE` replaces them all, `list` prints them, `delete ID` removes one,
    `clear` removes every one.

    FILE is JSON: a list of rules, or {"rules": [...]} as PUT /v1/rules takes, e.g.
    [{"id": "iphone-launch", "when": {"query": "iphone"}, "actions": [{"pin": "ITEM_ID", "position": 1}]}].
    A bad rule or an unknown item: nothing is applied."""
    ctx.obj = data_dir


@rules.command("set")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@optional_data_dir_option
@embedding_model_option
def set_rules(file, data_dir, embedding_model) -> None:
    """Replace every rule with FILE's."""
    data_dir = group_data_dir(data_dir)
    try:
        written = json.load(file)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{file.name}: not JSON ({exc}); nothing was applied") from None
    if isinstance(written, dict) and set(written) == {"rules"}:
        written = written["rules"]
    with open_engine(data_dir, write=True, config=engine_config(embedding_model)) as engine:
        try:
            stored = engine.set_rules(written)
        except InvalidRequest as exc:
            raise click.ClickException(f"{file.name}: {exc} ({exc.param}); nothing was applied") from None
    click.echo(f"{len(stored.rules)} rules set in {data_dir}")


@rules.command("list")
@optional_data_dir_option
@embedding_model_option
def list_rules(data_dir, embedding_model) -> None:
    """Print the rules as JSON (what `set` takes)."""
    with open_engine(group_data_dir(data_dir), config=engine_config(embedding_model)) as engine:
        click.echo(json.dumps({"rules": [dict(r.written) for r in engine.rules.rules]}, ensure_ascii=False, indent=2))


@rules.command("delete")
@click.argument("rule_id")
@optional_data_dir_option
@embedding_model_option
def delete_rule(rule_id, data_dir, embedding_model) -> None:
    """Remove the rule RULE_ID."""
    with open_engine(group_data_dir(data_dir), write=True, config=engine_config(embedding_model)) as engine:
        if not engine.delete_rule(rule_id):
            raise click.ClickException(f"no rule {rule_id!r}")
    click.echo(f"rule {rule_id!r} deleted")


@rules.command("clear")
@optional_data_dir_option
@embedding_model_option
def clear_rules(data_dir, embedding_model) -> None:
    """Remove every rule."""
    data_dir = group_data_dir(data_dir)
    with open_engine(data_dir, write=True, config=engine_config(embedding_model)) as engine:
        engine.set_rules([])
    click.echo(f"rules cleared in {data_dir}")


@click.command()
@click.argument("item_id")
@data_dir_option
@click.option("--k", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--filter", "filters", multiple=True, metavar="EXPR", help="e.g. 'price<=50'. Repeat to AND.")
@click.option("--same-category", is_flag=True, help="The item's category first.")
@embedding_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def similar(item_id, data_dir, k, filters, same_category, embedding_model, as_json) -> None:
    """Items similar to ITEM_ID, by its own vector ("you may also like")."""
    try:
        for f in filters:
            parse_filter(f)
    except InvalidFilter as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    with open_engine(data_dir, config=engine_config(embedding_model)) as engine:
        try:
            found = engine.similar(item_id, k, list(filters), same_category)
        except InvalidRequest as exc:
            raise fail(exc) from None
    if found is None:
        raise click.ClickException(f"no item with id {item_id!r}")
    if as_json:
        click.echo(json.dumps({"item_id": item_id, "results": [h.to_dict() for h in found.hits]}, ensure_ascii=False, indent=2))
        return
    for rank, hit in enumerate(found.hits, start=1):
        click.echo(f"{rank:>3}. {hit.score:8.4f}  {hit.id}  {str(hit.item.get('title', ''))[:90]}")
