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
import math
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .items import CANONICAL_FIELDS, InvalidItem, Item

# Bytes that are not UTF-8 survive decoding as lone surrogates
# (errors="surrogateescape"), so one bad line is caught without losing the file.
_BAD_UTF8 = re.compile("[\udc80-\udcff]")
# JSONL lines end at \n, \r\n or \r only: str.splitlines() would also cut at U+2028, U+0085 and
# the like, which JSON strings may hold as they are (json.dumps(ensure_ascii=False) writes them).
_LINE_BREAK = re.compile("\r\n|\r|\n")
# What a broken archive member or gzip stream raises while it is decompressed: zipfile.BadZipFile
# (bad header, CRC), zlib.error (corrupt deflate data), EOFError (cut short), NotImplementedError
# (an unsupported compression method), RuntimeError (an encrypted member), OSError (gzip's own checks),
# ValueError (UnicodeDecodeError: a member's local header flags its name UTF-8 and it is not).
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError, ValueError)


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


def detect_format(name: str, source: str | None = None) -> tuple[str, str | None]:
    """(format, compression) from a file name such as 'a.json.zip' or 'b.csv.gz'; `source` (default: the
    name) is what an UnreadableFile names."""
    lower = name.lower()
    compression = None
    for suffix in (".gz", ".zip"):
        if lower.endswith(suffix):
            compression = suffix[1:]
            lower = lower[: -len(suffix)]
    ext = lower.rsplit(".", 1)[-1] if "." in lower else ""
    fmt = {"ndjson": "jsonl", "jsonl": "jsonl", "json": "json", "csv": "csv", "parquet": "parquet", "pq": "parquet"}.get(ext)
    if fmt is None and compression != "zip":
        raise UnreadableFile(f"{source or name}: unknown format; expected one of .jsonl .json .csv .parquet "
                             "(optionally .gz or .zip)")
    return fmt or "", compression


def read_file(path: str | Path) -> Iterator[tuple[Location, Any]]:
    """(location, raw record | BadRecord) for every record of a file."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"{path}: no such file")
    fmt, compression = detect_format(path.name, str(path))
    if compression == "zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise UnreadableFile(f"{path}: not a zip archive ({exc})") from None
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            for member in members:
                source = f"{path}!{member.filename}"
                # A member's own compression counts: "b.jsonl.gz" is gunzipped, a zip inside is refused.
                if fmt:  # "a.json.zip": every member is JSON, whatever its name
                    member_fmt, member_compression = fmt, _compression(member.filename)
                else:
                    member_fmt, member_compression = detect_format(member.filename, source)
                if member_compression == "zip":
                    raise UnreadableFile(f"{source}: a zip archive inside a zip archive is not read; unpack it first")
                try:
                    data = archive.read(member)
                except _ARCHIVE_ERRORS as exc:
                    raise UnreadableFile(f"{source}: cannot be extracted ({exc})") from None
                if member_compression == "gz":
                    data = _gunzip(data, source)
                yield from _read_bytes(data, fmt or member_fmt, source)
        return
    data = path.read_bytes()
    if compression == "gz":
        data = _gunzip(data, str(path))
    yield from _read_bytes(data, fmt, str(path))


def _compression(name: str) -> str | None:
    lower = name.lower()
    return "gz" if lower.endswith(".gz") else "zip" if lower.endswith(".zip") else None


def _gunzip(data: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(data)
    except _ARCHIVE_ERRORS as exc:
        raise UnreadableFile(f"{source}: not a gzip file ({exc})") from None


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


def _json_problem(exc: ValueError | RecursionError) -> str:
    """Why json could not decode a value: its own message, or the limits it hit past the syntax."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "a number too long to read"  # int() refuses more than sys.get_int_max_str_digits() digits


def _read_jsonl(text: str, source: str) -> Iterator[tuple[Location, Any]]:
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        loc = Location(source, number)
        if _BAD_UTF8.search(line):
            yield loc, BadRecord(loc, "invalid UTF-8")
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield loc, BadRecord(loc, f"not JSON: {_json_problem(exc)}")
            continue
        yield loc, value


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
            except (ValueError, RecursionError) as exc:  # past json's limits: where the value ends is unknown
                yield loc, BadRecord(loc, f"not JSON: {_json_problem(exc)}; the rest of the file is skipped")
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
    except csv.Error as exc:
        raise UnreadableFile(f"{source}: the CSV header cannot be read ({exc})") from None
    if any(_BAD_UTF8.search(h) for h in header):
        raise UnreadableFile(f"{source}: the CSV header is not valid UTF-8")
    header = [h.strip() for h in header]
    line = reader.line_num
    while True:
        loc = Location(source, line + 1)
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over csv.field_size_limit(); the reader goes on with the next line
            if reader.line_num == line:
                yield loc, BadRecord(loc, f"not CSV: {exc}; the rest of the file is skipped")
                return
            line = reader.line_num
            yield loc, BadRecord(loc, f"not CSV: {exc}")
            continue
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
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFile(f"{source}: not a Parquet file ({exc})") from None
    row = 0
    batches = parquet.iter_batches(batch_size=4096)
    while True:
        # A footer that reads says little of the pages: those are only decoded here.
        try:
            batch = next(batches, None)
            records = batch.to_pylist() if batch is not None else None
        except (pa.ArrowException, OSError, ValueError, OverflowError) as exc:
            raise UnreadableFile(f"{source}: rows from {row + 1} on cannot be read ({exc})") from None
        if records is None:
            return
        for record in records:
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
        if not (price_scale > 0 and math.isfinite(price_scale)):
            raise ValueError(f"--price-scale must be a positive number, got {price_scale}")
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
            price = round(item.price * self.price_scale, 6)
            if not math.isfinite(price):
                raise InvalidItem(f"price {item.price} times --price-scale {self.price_scale} is too large")
            item = Item(**{**item.__dict__, "price": price})
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
