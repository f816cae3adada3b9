"""Reading catalogue files: JSONL, JSON arrays, CSV and Parquet, plain or gzip/zip.

Every record comes out with where it came from (file, member, line), so a bad
record can be reported precisely and skipped while the rest is indexed.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .items import CANONICAL_FIELDS, InvalidItem, Item

# Bytes that are not UTF-8 survive decoding as lone surrogates
# (errors="surrogateescape"), so one bad line is caught without losing the file.
_BAD_UTF8 = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class Location:
    source: str
    line: int | None = None

    def __str__(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"


@dataclass(frozen=True)
class BadRecord:
    location: Location
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (missing, unknown format, not an archive...)."""


def detect_format(name: str) -> tuple[str, str | None]:
    """(format, compression) from a file name such as 'a.json.zip' or 'b.csv.gz'."""
    lower = name.lower()
    compression = None
    for suffix in (".gz", ".zip"):
        if lower.endswith(suffix):
            compression = suffix[1:]
            lower = lower[: -len(suffix)]
    ext = lower.rsplit(".", 1)[-1] if "." in lower else ""
    fmt = {"ndjson": "jsonl", "jsonl": "jsonl", "json": "json", "csv": "csv", "parquet": "parquet", "pq": "parquet"}.get(ext)
    if fmt is None and compression != "zip":
        raise UnreadableFile(f"{name}: unknown format; expected one of .jsonl .json .csv .parquet (optionally .gz or .zip)")
    return fmt or "", compression


def read_file(path: str | Path) -> Iterator[tuple[Location, Any]]:
    """(location, raw record | BadRecord) for every record of a file."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"{path}: no such file")
    fmt, compression = detect_format(path.name)
    if compression == "zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise UnreadableFile(f"{path}: not a zip archive") from None
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            for member in members:
                member_fmt = fmt or detect_format(member.filename)[0]
                yield from _read_bytes(archive.read(member), member_fmt, f"{path}!{member.filename}")
        return
    data = path.read_bytes()
    if compression == "gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise UnreadableFile(f"{path}: not a gzip file ({exc})") from None
    yield from _read_bytes(data, fmt, str(path))


def _read_bytes(data: bytes, fmt: str, source: str) -> Iterator[tuple[Location, Any]]:
    if fmt == "parquet":
        yield from _read_parquet(data, source)
        return
    text = data.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    if fmt == "csv":
        yield from _read_csv(text, source)
    elif fmt == "json" and text.lstrip().startswith("["):
        yield from _read_json_array(text, source)
    else:  # JSONL, or a .json file holding one object per line
        yield from _read_jsonl(text, source)


def _read_jsonl(text: str, source: str) -> Iterator[tuple[Location, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        loc = Location(source, number)
        if _BAD_UTF8.search(line):
            yield loc, BadRecord(loc, "invalid UTF-8")
            continue
        try:
            yield loc, json.loads(line)
        except json.JSONDecodeError as exc:
            yield loc, BadRecord(loc, f"not JSON: {exc.msg} at column {exc.colno}")


def _read_json_array(text: str, source: str) -> Iterator[tuple[Location, Any]]:
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    end = len(text)

    def line_of(offset: int) -> int:
        return bisect.bisect_right(newlines, offset - 1) + 1

    expecting_value = True
    while pos < end:
        ch = text[pos]
        if ch in " \t\r\n":
            pos += 1
        elif ch == "]":
            return
        elif ch == "," and not expecting_value:
            expecting_value = True
            pos += 1
        else:
            loc = Location(source, line_of(pos))
            try:
                value, next_pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                # The array's structure is broken from here on: nothing after
                # it can be located reliably, so report it and stop.
                yield loc, BadRecord(Location(source, exc.lineno), f"not JSON: {exc.msg}; the rest of the file is skipped")
                return
            if _BAD_UTF8.search(text, pos, next_pos):
                yield loc, BadRecord(loc, "invalid UTF-8")
            else:
                yield loc, value
            pos = next_pos
            expecting_value = False
    yield Location(source, line_of(end)), BadRecord(Location(source, line_of(end)), "not JSON: unterminated array")


def _read_csv(text: str, source: str) -> Iterator[tuple[Location, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    line = reader.line_num
    for row in reader:
        loc = Location(source, line + 1)
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if any(_BAD_UTF8.search(cell) for cell in row):
            yield loc, BadRecord(loc, "invalid UTF-8")
        elif len(row) != len(header):
            yield loc, BadRecord(loc, f"expected {len(header)} columns, found {len(row)}")
        else:
            yield loc, dict(zip(header, row))


def _read_parquet(data: bytes, source: str) -> Iterator[tuple[Location, Any]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UnreadableFile(f"{source}: reading Parquet needs pyarrow: pip install 'shopsearch[parquet]'") from None
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableFile(f"{source}: not a Parquet file ({exc})") from None
    row = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            row += 1
            yield Location(source, row), record


@dataclass(frozen=True)
class FieldMapping:
    """Where each canonical field comes from: `--map brand=supplier`,
    `--map description=name,short_description` (several sources joined)."""

    sources: Mapping[str, tuple[str, ...]]
    price_scale: float = 1.0

    @classmethod
    def parse(cls, specs: Sequence[str] = (), price_scale: float = 1.0) -> "FieldMapping":
        sources: dict[str, tuple[str, ...]] = {}
        for spec in specs:
            canon, sep, src = spec.partition("=")
            canon = canon.strip()
            fields = tuple(s.strip() for s in src.split(",") if s.strip())
            if not sep or not fields:
                raise ValueError(f"--map {spec!r}: expected CANON=SRC[,SRC...]")
            if canon not in CANONICAL_FIELDS:
                raise ValueError(f"--map {spec!r}: {canon!r} is not one of {', '.join(CANONICAL_FIELDS)}")
            if canon in ("id", "price") and len(fields) > 1:
                raise ValueError(f"--map {spec!r}: {canon} takes one source field")
            sources[canon] = fields
        if not price_scale > 0:
            raise ValueError(f"--price-scale must be positive, got {price_scale}")
        return cls(sources, price_scale)

    def apply(self, record: Mapping[str, Any]) -> Item:
        if not isinstance(record, Mapping):
            raise InvalidItem(f"a record must be an object, not {type(record).__name__}")
        mapped = dict(record)
        consumed = {src for fields in self.sources.values() for src in fields}
        for canon, fields in self.sources.items():
            values = [record.get(f) for f in fields]
            values = [v for v in values if v not in (None, "")]
            if canon in ("id", "price"):
                mapped[canon] = values[0] if values else None
            else:
                mapped[canon] = " ".join(str(v).strip() for v in values if not isinstance(v, (dict, list)))
        for src in consumed - set(self.sources):
            mapped.pop(src, None)
        item = Item.from_record(mapped)
        if item.price is not None and self.price_scale != 1.0:
            item = Item(**{**item.__dict__, "price": round(item.price * self.price_scale, 6)})
        return item


def read_items(paths: Sequence[str | Path], mapping: FieldMapping) -> Iterator[tuple[Location, Item | BadRecord]]:
    """Items from catalogue files, with bad records reported in place."""
    for path in paths:
        for loc, raw in read_file(path):
            if isinstance(raw, BadRecord):
                yield loc, raw
                continue
            try:
                yield loc, mapping.apply(raw)
            except InvalidItem as exc:
                yield loc, BadRecord(loc, str(exc))
