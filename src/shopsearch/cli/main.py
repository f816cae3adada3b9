"""The `shopsearch` command line: index, delete, stats, search, suggest, synonyms, embed, rerank, eval, train-ranker,
migrate, analytics, demo, serve."""

from __future__ import annotations

import click

from . import behaviour, catalogue, merchandising, migrate, models, relevance, searching, serving, understanding


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shopsearch")
def cli() -> None:
    """Multilingual product search: keyword, vector and hybrid, with filters."""


for command in (catalogue.index, catalogue.delete, catalogue.stats, catalogue.snapshot, catalogue.restore, searching.search,
                understanding.suggest, understanding.synonyms, merchandising.rules, merchandising.similar, models.embed, models.rerank,
                relevance.eval_command, relevance.train_ranker_command, migrate.migrate, behaviour.analytics, serving.demo, serving.serve):
    cli.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    cli()
