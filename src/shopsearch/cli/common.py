"""What the commands share: the options every data-directory command takes, settings, and one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from ..config import EngineConfig, VectorConfig
from ..errors import ShopsearchError
from ..search.engine import Engine

EXIT_SKIPPED = 1  # some records were bad and skipped, or some ids were not found


def _directory(ctx, param, value: Path | None) -> Path | None:
    # `--data-dir $EMPTY --queries FILE` would take "--queries" as the directory.
    if value is not None and str(value).startswith("-"):
        raise click.BadParameter(f"expected a directory, got the option {str(value)!r}: give --data-dir DIR")
    return value


data_dir_option = click.option(
    "--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path), callback=_directory,
    help="Index directory.")
# For a command group and its subcommands, either of which may name the directory:
# `synonyms --data-dir D set FILE` and `synonyms set FILE --data-dir D`.
optional_data_dir_option = click.option(
    "--data-dir", default=None, type=click.Path(file_okay=False, path_type=Path), callback=_directory,
    help="Index directory.")


def group_data_dir(data_dir: Path | None) -> Path:
    """A group's subcommand's --data-dir, else the group's."""
    data_dir = data_dir or click.get_current_context().obj
    if data_dir is None:
        raise click.UsageError("give --data-dir DIR")
    return data_dir


embedding_model_option = click.option(
    "--embedding-model", default=None, metavar="MODEL",
    help="default, e5-nano, qwen3:NAME|FOLDER, st:NAME, openai:URL#MODEL, or a folder (the index's model).")


index_option = click.option(
    "--index", "index_uri", default=None, metavar="URI",
    help="Where the vector leg lives: embedded (default, hnswlib in the data dir), milvus-lite:PATH, or "
         "milvus://HOST:19530 (SHOPSEARCH_VECTOR__BACKEND/URI). The catalogue stays in the data dir.")


def engine_config(embedding_model: str | None = None, rerank_model: str | None = None,
            index_uri: str | None = None) -> EngineConfig:
    try:
        config = EngineConfig.from_env()
    except ShopsearchError as exc:
        raise fail(exc) from None
    changes: dict[str, Any] = {}
    if embedding_model:
        changes["embedder"] = embedding_model
    if rerank_model is not None:
        changes["reranker"] = rerank_model
    if changes:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **changes))
    if index_uri:
        if index_uri == "embedded":
            embedded = config.vector.backend if config.vector.backend != "milvus" else VectorConfig.backend
            vector = dataclasses.replace(config.vector, backend=embedded, uri="")
        elif index_uri.startswith(("milvus://", "milvus-lite:")):
            vector = dataclasses.replace(config.vector, backend="milvus", uri=index_uri)
        else:
            raise click.BadParameter("embedded, milvus-lite:PATH or milvus://HOST:19530", param_hint="--index")
        config = dataclasses.replace(config, vector=vector)
    return config


def fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))



class open_engine:
    """Open a data directory for a command, turning failures into one-line errors."""

    def __init__(self, data_dir: Path, write: bool = False, create: bool = False, config: EngineConfig | None = None,
                 read_only: bool = False) -> None:
        self.data_dir, self.write, self.create, self.config, self.read_only = data_dir, write, create, config, read_only

    def __enter__(self) -> Engine:
        try:
            self.engine = Engine.open(self.data_dir, self.config, create=self.create, read_only=self.read_only)
        except (ShopsearchError, ValueError) as exc:  # ValueError: a bad model string (models.factory)
            raise fail(exc) from None
        if self.write and self.engine.read_only:
            self.engine.close()
            raise click.ClickException(f"{self.data_dir} is being written by another process; try again later")
        return self.engine

    def __exit__(self, *exc) -> None:
        self.engine.close()

