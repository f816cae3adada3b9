"""The behaviour loop's commands: what shoppers did with the searches (analytics)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..behaviour import SqliteEventStore
from .common import data_dir_option, engine_config


def open_event_store(data_dir: Path) -> SqliteEventStore:
    """The data directory's search log and events, without loading any model; a one-line error when there is none."""
    from ..search.engine import EVENTS_FILE

    path = data_dir / EVENTS_FILE
    if not path.exists():
        raise click.ClickException(f"{data_dir} has no search log yet: `shopsearch serve` records one as it answers searches")
    return SqliteEventStore(path, engine_config().event_retention_days)


@click.command()
@data_dir_option
@click.option("--since", type=float, default=None, help="Unix seconds (inclusive); default: the start of the log.")
@click.option("--until", type=float, default=None, help="Unix seconds (exclusive); default: now.")
@click.option("--top", type=click.IntRange(1, 1000), default=20, show_default=True, help="Queries per list.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON (GET /v1/analytics's shape).")
def analytics(data_dir, since, until, top, as_json) -> None:
    """Searches, no-result and no-click rates, click-through, conversion and the queries behind them,
    from the search log and the events the server recorded (no model is loaded)."""
    if since is not None and until is not None and since > until:
        raise click.BadParameter(f"--since ({since:g}) is after --until ({until:g})", param_hint="--since")
    with open_event_store(data_dir) as store:
        figures = store.analytics(since, until, top)
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    position = figures["mean_click_position"]
    click.echo(f"searches {figures['searches']:,}  no result {figures['no_result_rate']:.1%}  "
               f"no click {figures['no_click_rate']:.1%}  CTR {figures['ctr']:.1%}  "
               f"mean click position {'-' if position is None else f'{position:.2f}'}  "
               f"conversion {figures['conversion_rate']:.1%}")
    for name, variant in figures["variants"].items():
        click.echo(f"  variant {name}: searches {variant['searches']:,}  no click {variant['no_click_rate']:.1%}  "
                   f"CTR {variant['ctr']:.1%}  conversion {variant['conversion_rate']:.1%}")
    for title, key in (("top queries", "top_queries"), ("no-result queries", "no_result_queries"),
                       ("no-click queries", "no_click_queries")):
        if figures[key]:
            click.echo(f"{title}: " + ", ".join(f"{q['query']} ({q['count']})" for q in figures[key]))
