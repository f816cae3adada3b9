"""Catalogue commands: index, delete, stats, snapshot, restore."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator

import click

from ..errors import ShopsearchError
from ..index.ingest import BadRecord, FieldMapping, UnreadableFile, read_items
from ..index.items import Item
from .common import EXIT_SKIPPED, data_dir_option, embedding_model_option, engine_config, fail, index_option, open_engine


@click.command()
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

    with open_engine(data_dir, write=True, create=True, config=engine_config(embedding_model, index_uri=index_uri)) as engine:
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
        raise fail(exc) from None


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


@click.command()
@click.argument("ids", nargs=-1, required=True)
@data_dir_option
@index_option
def delete(ids, data_dir, index_uri) -> None:
    """Delete items by id. Exit code 1 if some ids were not in the index."""
    with open_engine(data_dir, write=True, config=engine_config(index_uri=index_uri)) as engine:
        missing = [i for i in dict.fromkeys(ids) if engine.get(i) is None]
        result = engine.delete(ids)
    click.echo(f"deleted {result.count} items")
    if missing:
        click.echo(f"not found: {', '.join(missing)}", err=True)
        sys.exit(EXIT_SKIPPED)


@click.command()
@data_dir_option
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(data_dir, index_uri, as_json) -> None:
    """Item count, index sizes and model of a data directory."""
    with open_engine(data_dir, config=engine_config(index_uri=index_uri)) as engine:
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


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@click.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@data_dir_option
@embedding_model_option
def snapshot(out, data_dir, embedding_model) -> None:
    """Copy the data directory into OUT (a new directory), consistently, while it is served and written.

    With no server writing the directory, every index is copied at the catalogue's sequence. Beside a
    server, the indexes are copied as the server last saved them and a restore brings them up to the
    catalogue's sequence (POST /v1/snapshots on the server copies them at it)."""
    with open_engine(data_dir, config=engine_config(embedding_model)) as engine:
        try:
            manifest = engine.snapshot(out)
        except ShopsearchError as exc:
            raise fail(exc) from None
        beside = engine.read_only
    remote = f"; Milvus collections recorded, not copied: {', '.join(manifest['remote_collections'])}" \
        if manifest["remote_collections"] else ""
    how = "; indexes as the server last saved them (a restore brings them up)" if beside else ""
    click.echo(f"snapshot of {data_dir} at sequence {manifest['seq']} ({manifest['items']} items) in {out}{how}{remote}")


@click.command()
@click.argument("snapshot_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@data_dir_option
@embedding_model_option
def restore(snapshot_dir, data_dir, embedding_model) -> None:
    """Restore SNAPSHOT_DIR into --data-dir (a new directory), bringing every index up to the snapshot."""
    from ..index.snapshot import restore as put_back

    try:
        manifest = put_back(snapshot_dir, data_dir)
    except ShopsearchError as exc:
        raise fail(exc) from None
    with open_engine(data_dir, write=True, config=engine_config(embedding_model)) as engine:  # replays what the indexes lack
        items, seq = len(engine), engine.stats()["last_seq"]
    click.echo(f"restored {items} items at sequence {seq} (snapshot {manifest['seq']}) into {data_dir}")
