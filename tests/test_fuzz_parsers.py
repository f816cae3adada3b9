"""Fuzzing the parsers (issue 16): what comes from files, shoppers and admins either parses or is refused
with the parser's own documented error, never a stray TypeError, UnicodeDecodeError, BadZipFile,
RecursionError or OverflowError.

Per parser, what it documents (and so what these tests allow):

- ingest (`read_items`, index/ingest.py): a file that cannot be read as a whole raises `UnreadableFile`
  (while iterating: a bad archive member, a Parquet file broken past its footer); a bad record is yielded
  as a `BadRecord` with a reason, in place, and the rest is read. `FieldMapping.parse`: ValueError.
- `Item.from_record` / `FieldMapping.apply` (index/items.py): `InvalidItem`, naming the field. What they
  return can be stored: finite numbers, valid Unicode (json.dumps(..., allow_nan=False) encodes as UTF-8).
- filters (`parse_filters`, `parse_filter`, index/filters.py): `InvalidFilter`; a parsed condition can be
  evaluated (Column, server_expression) without raising.
- `parse_price` (text/price/): never raises for a query; ValueError for a bad `around`. Spans lie in the
  query, sorted and disjoint, the text is what is left, bounds are finite and the range non-empty.
- `parse_synonyms` (text/synonyms.py): `InvalidSynonyms` with the line; what it parses writes back
  (`SynonymSet.to_text`) to the same rules.
- typos (`TypoCorrector`), suggestions (`SuggestIndex`), the analyzer, product types: any text is read;
  ValueError only for a bad count, kind, weight or k.
- `parse_event` (behaviour/events.py): `InvalidEvent`, whose message starts with the field it names.
- `parse_judgments` / `load_judgments` (eval/judgments.py): `InvalidJudgments`, naming source and line;
  grades are finite and >= 0.

Bounded and reproducible: every test is derandomised with no example database, and the whole file runs in
well under a minute on two cores. Files go to one module-scoped folder (hypothesis re-runs a test body
many times within one function-scoped fixture, which it refuses).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import warnings
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from helpers import check_price_spans
from shopsearch.behaviour.events import EVENT_TYPES, MAX_ID_LENGTH, MAX_POSITION, Event, InvalidEvent, parse_event
from shopsearch.eval.judgments import InvalidJudgments, load_judgments, parse_judgments
from shopsearch.index.filters import (
    OPS,
    Column,
    Condition,
    InvalidFilter,
    filter_values,
    normalize_value,
    parse_filter,
    parse_filters,
    promoted_values,
    server_expression,
)
from shopsearch.index.ingest import BadRecord, FieldMapping, Location, UnreadableFile, read_items
from shopsearch.index.items import CANONICAL_FIELDS, InvalidItem, Item
from shopsearch.text.analyzer import Analyzer, fold, surface_tokens, whole_words
from shopsearch.text.price import PriceParse, parse_price
from shopsearch.text.product_type import type_key
from shopsearch.text.suggest import SuggestIndex
from shopsearch.text.suggest.index import MAX_K
from shopsearch.text.synonyms import InvalidSynonyms, SynonymSet, parse_synonyms
from shopsearch.text.typos import TypoCorrector

# SHOPSEARCH_FUZZ_SCALE=20 runs twenty times the examples from random seeds, for a longer campaign by hand;
# unset, every run tries the same examples.
FUZZ_SCALE = int(os.environ.get("SHOPSEARCH_FUZZ_SCALE", "1"))


def fuzz(n: int) -> settings:
    return settings(max_examples=n * FUZZ_SCALE, deadline=None, derandomize=FUZZ_SCALE == 1, database=None,
                    print_blob=FUZZ_SCALE > 1,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def message_of(exc: BaseException) -> str:
    """The error's message: a non-empty string that a terminal or a JSON response can carry."""
    text = str(exc)
    assert isinstance(text, str) and text.strip(), repr(exc)
    text.encode("utf-8")  # no lone surrogates echoed back
    return text


# -- what the strategies are made of ------------------------------------------------------------

# Characters that break parsers: NUL, BOM, RTL marks and overrides, combining marks, full-width and other
# digits, lone surrogates (as decoded bytes that are not UTF-8 arrive), every kind of line break.
ODD_CHARS = [
    "\x00", "\ufeff", "\u200f", "\u202e", "\u061c", "\u0301", "\u0327", "\u20e3", "\uff15", "\uff10", "\u0665",
    "\U0001d7d3", "\u00b2", "\ud800", "\udc80", "\udcff", "\r", "\n", "\r\n", "\x85", "\u2028", "\u2029", "\x0b",
    "\x1c", "\t", " ", "\u3000", "\u00a0", "\U0010ffff", "\ufffd", "ß", "İ", "ﬁ", "㎖", "元", "耳机", "é", "e\u0301",
    ",", ";", '"', "'", "\\", "=", "=>", "#", "[", "]", "{", "}", ":", "..", "$", "€", "¥", "<", ">", "!",
]
odd_piece = st.one_of(st.characters(exclude_categories=()), st.sampled_from(ODD_CHARS))
odd_text = st.lists(odd_piece, max_size=16).map("".join)
# Text a JSON or Parquet writer can carry (no lone surrogates), still odd.
# (st.characters() draws surrogates unless told not to.)
clean_piece = st.one_of(st.characters(exclude_categories=("Cs",)),
                        st.sampled_from([c for c in ODD_CHARS if not "\ud800" <= c[0] <= "\udfff"]))
clean_text = st.lists(clean_piece, max_size=16).map("".join)
numbers = st.one_of(
    st.integers(), st.integers(min_value=10**300, max_value=10**400), st.integers(max_value=-(10**300)),
    st.floats(), st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan, 2**63, 2**64]),
)


def json_like(text: st.SearchStrategy[str]) -> st.SearchStrategy:
    return st.recursive(st.one_of(st.none(), st.booleans(), numbers, text),
                        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
                        max_leaves=10)


json_values = json_like(odd_text)
field_names = st.one_of(st.sampled_from([*CANONICAL_FIELDS, "color", "sizes", "attr_x", "", " id "]), odd_text)

records = st.fixed_dictionaries(
    {"id": st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 10**6)), "title": st.text(min_size=1, max_size=20)},
    # Prices as shops write them: str(0.00001) is "1e-05", which parse_price's plain-decimal pattern refuses.
    optional={"price": st.one_of(st.integers(0, 10**8).map(lambda c: c / 100), st.integers(0, 10**6),
                                 st.sampled_from(["12.50", "", "-1", "1e3"])),
              "brand": clean_text, "description": clean_text, "color": clean_text,
              "sizes": st.lists(st.integers(30, 50), max_size=3)},
)
wild_records = st.dictionaries(field_names, json_values, max_size=6)


def encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def to_jsonl(rows: list, ascii_only: bool, line_end: str) -> bytes:
    return encoded(line_end.join(json.dumps(r, ensure_ascii=ascii_only) for r in rows))


def to_json_array(rows: list, ascii_only: bool, indent: int | None) -> bytes:
    return encoded(json.dumps(rows, ensure_ascii=ascii_only, indent=indent))


def to_csv(rows: list[dict], line_end: str) -> bytes:
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["id", "title"]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return encoded(out.getvalue())


# Parquet columns of many types, names possibly repeated (Table.from_arrays allows it).
PARQUET_COLUMNS = {
    "string": (st.one_of(st.none(), clean_text), pa.string()),
    "int": (st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), pa.int64()),
    "float": (st.one_of(st.none(), st.floats()), pa.float64()),
    "bool": (st.one_of(st.none(), st.booleans()), pa.bool_()),
    "list": (st.one_of(st.none(), st.lists(st.integers(-100, 100), max_size=3)), pa.list_(pa.int64())),
    "struct": (st.one_of(st.none(), st.fixed_dictionaries({"a": st.integers(0, 9)})), pa.struct([("a", pa.int64())])),
    "binary": (st.one_of(st.none(), st.binary(max_size=8)), pa.binary()),
    "null": (st.none(), pa.null()),
    "timestamp": (st.one_of(st.none(), st.integers(-(2**62), 2**62)), pa.timestamp("us")),
    "decimal": (st.one_of(st.none(), st.decimals(min_value=-999, max_value=999, places=2)), pa.decimal128(5, 2)),
}


@st.composite
def parquet_bytes(draw) -> bytes:
    rows = draw(st.integers(0, 6))
    names, arrays = [], []
    for name in draw(st.lists(st.sampled_from(["id", "title", "price", "brand", "color", "x", ""]), min_size=1, max_size=5)):
        values, kind = PARQUET_COLUMNS[draw(st.sampled_from(sorted(PARQUET_COLUMNS)))]
        names.append(name)
        arrays.append(pa.array(draw(st.lists(values, min_size=rows, max_size=rows)), type=kind))
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), out, row_group_size=draw(st.integers(1, 4)))
    return out.getvalue()


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """`data` cut, flipped, re-encoded, given a BOM or odd line ends, or left alone."""
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "delete", "bom", "utf16", "latin1", "crlf", "cr", "dup"]))
        n = len(data)
        at = draw(st.integers(0, n))
        if op == "cut":
            data = data[:at]
        elif op == "flip" and n:
            i = min(at, n - 1)
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
        elif op == "insert":
            chunk = draw(st.one_of(st.binary(max_size=6), st.sampled_from(
                [b"\x00", b"\xef\xbb\xbf", b"\r", b"\n", b"\r\n", b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b'"', b",",
                 b"[", b"{", b"NaN", b"1e999", b"9" * 400, b'"\\ud800"', b"PK\x03\x04", b"\x1f\x8b"])))
            data = data[:at] + chunk + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)):]
        elif op == "bom":
            data = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf\xef\xbb\xbf"])) + data
        elif op in ("utf16", "latin1"):
            text = data.decode("utf-8", "surrogateescape")
            data = text.encode("utf-16" if op == "utf16" else "latin-1", "surrogatepass" if op == "utf16" else "replace")
        elif op in ("crlf", "cr"):
            data = data.replace(b"\n", b"\r\n" if op == "crlf" else b"\r", draw(st.integers(-1, 3)))
        elif op == "dup" and n:
            data = data[:at] + data[at // 2:at] + data[at:]
    return data


@st.composite
def catalogue_payload(draw) -> tuple[str, bytes]:
    """(extension, bytes) of a plain catalogue file: valid or nearly so, or anything at all."""
    fmt = draw(st.sampled_from(["jsonl", "json", "csv", "parquet"]))
    rows = draw(st.lists(st.one_of(records, records, wild_records), max_size=5))
    line_end = draw(st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\u2028", "\x85"]))
    if fmt == "jsonl":
        data = to_jsonl(rows, draw(st.booleans()), line_end)
    elif fmt == "json":
        data = to_json_array(rows, draw(st.booleans()), draw(st.sampled_from([None, 0, 2])))
    elif fmt == "csv":
        data = to_csv([{str(k): v for k, v in r.items()} for r in rows], line_end)
    else:
        data = draw(parquet_bytes())
    data = draw(st.one_of(mutated(data), st.binary(max_size=64), st.just(b"")))
    return fmt, data


def zip_bytes(members: list[tuple[str, bytes | None]], compression: int) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", compression) as archive:
        warnings.simplefilter("ignore", UserWarning)  # a name repeated, as meant
        for name, data in members:
            if data is None:  # a directory
                archive.writestr(zipfile.ZipInfo(name + "/"), b"")
            else:
                archive.writestr(name, data)
    return out.getvalue()


@st.composite
def catalogue_file(draw) -> tuple[str, bytes]:
    """(file name, bytes): a plain, gzipped or zipped catalogue, the archive possibly broken."""
    fmt, data = draw(catalogue_payload())
    wrap = draw(st.sampled_from(["plain", "gz", "zip", "zip"]))
    if wrap == "plain":
        return f"catalogue.{fmt}", data
    if wrap == "gz":
        packed = gzip.compress(data, mtime=0)
        return f"catalogue.{fmt}.gz", draw(st.one_of(st.just(packed), mutated(packed)))
    members: list[tuple[str, bytes | None]] = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["file", "file", "dir", "zip", "gz", "odd"]))
        if kind == "file":
            members.append((f"m{len(members)}.{fmt}", data))
        elif kind == "dir":
            members.append((f"folder{len(members)}", None))
        elif kind == "zip":
            members.append((f"inner{len(members)}.zip", zip_bytes([(f"a.{fmt}", data)], zipfile.ZIP_STORED)))
        elif kind == "gz":
            members.append((f"m{len(members)}.{fmt}.gz", gzip.compress(data, mtime=0)))
        else:
            members.append((draw(st.sampled_from([f"m.{fmt}", f"ﬁlé\u202e.{fmt}", f"../up.{fmt}", f"a/b/c.{fmt}"])), data))
    packed = zip_bytes(members, draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))
    name = draw(st.sampled_from([f"catalogue.{fmt}.zip", "catalogue.zip"]))
    return name, draw(st.one_of(st.just(packed), mutated(packed)))


# -- ingest -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_item(item: Item) -> None:
    """What an Item promises the stores: id and title, a finite price >= 0, storable values."""
    assert isinstance(item.id, str) and item.id and isinstance(item.title, str) and item.title
    assert item.price is None or (math.isfinite(item.price) and item.price >= 0)
    json.dumps(item.to_record(), ensure_ascii=False, allow_nan=False).encode("utf-8")


def ingest(path: Path, mapping: FieldMapping | None = None) -> list:
    """read_items' results, or the UnreadableFile it raised (checked either way)."""
    results = []
    try:
        for loc, record in read_items([path], mapping or FieldMapping.parse()):
            assert isinstance(loc, Location) and str(loc).startswith(str(path))
            if isinstance(record, BadRecord):
                assert message_of(record.reason) and str(record).startswith(str(path))
            else:
                check_item(record)
            results.append(record)
    except UnreadableFile as exc:
        assert str(path) in message_of(exc)
        results.append(exc)
    return results


@fuzz(500)
@given(catalogue_file())
def test_read_items_reads_or_refuses_any_file(scratch, named):
    name, data = named
    path = scratch / name
    path.write_bytes(data)
    ingest(path)


@fuzz(150)
@given(st.sampled_from(["a.jsonl", "a.json", "a.csv", "a.parquet", "a.csv.gz", "a.json.zip", "a.zip", "a.txt", "a"]),
       st.binary(max_size=200))
def test_read_items_survives_arbitrary_bytes(scratch, name, data):
    path = scratch / name
    path.write_bytes(data)
    ingest(path)


@fuzz(150)
@given(st.lists(records, min_size=1, max_size=4), st.sampled_from(["jsonl", "json", "csv"]))
def test_valid_files_read_back_every_record(scratch, rows, fmt):
    rows = [{**r, "price": r.get("price") if isinstance(r.get("price"), (int, float)) else None} for r in rows]
    for r in rows:
        if r["price"] is None:
            del r["price"]
    data = {"jsonl": lambda: to_jsonl(rows, False, "\n"), "json": lambda: to_json_array(rows, False, 2),
            "csv": lambda: to_csv(rows, "\r\n")}[fmt]()
    path = scratch / f"valid.{fmt}"
    path.write_bytes(data)
    results = ingest(path)
    items = [r for r in results if isinstance(r, Item)]
    # A title or id that is all whitespace (or an id of only spaces) is a missing field; everything else loads.
    expected = [r for r in rows if str(r["id"]).strip() and r["title"].strip()]
    assert len(items) == len(expected), results
    assert [i.id for i in items] == [str(r["id"]).strip() for r in expected]


def test_jsonl_strings_may_hold_unicode_line_breaks(scratch):
    """Found by fuzzing: str.splitlines() cut a JSONL line at U+2028 / U+0085 inside a string (JSON allows
    them raw; json.dumps(ensure_ascii=False) writes them so), making two bad records of one good one."""
    path = scratch / "breaks.jsonl"
    path.write_bytes('{"id": "1", "title": "a\u2028b\x85c\u2029d"}\r\n{"id": "2", "title": "t"}\r{"id": "3", "title": "u"}'.encode())
    results = list(read_items([path], FieldMapping.parse()))
    assert [(loc.line, item.id) for loc, item in results] == [(1, "1"), (2, "2"), (3, "3")]
    assert results[0][1].title == "a\u2028b\x85c\u2029d"


DEEP = 100_000


@pytest.mark.parametrize("name, data", [
    ("deep.jsonl", b"[" * DEEP),
    ("deep.jsonl", b'{"id": "1", "title": "t", "x": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}"),
    ("deep.json", b"[" + b"[" * DEEP + b"]" * DEEP + b"]"),
    ("big.jsonl", b'{"id": "1", "title": "t", "price": 1' + b"0" * 5000 + b"}"),
    ("big.json", b'[{"id": "1", "title": "t", "n": 1' + b"0" * 5000 + b"}]"),
])
def test_json_too_deep_or_too_long_is_a_bad_record(scratch, name, data):
    """Found by fuzzing: RecursionError, and ValueError (Python's 4300-digit int limit), escaped json.loads."""
    path = scratch / name
    path.write_bytes(data)
    results = ingest(path)
    assert len(results) == 1 and isinstance(results[0], BadRecord), results
    assert "not JSON" in results[0].reason


@pytest.mark.parametrize("record, problem", [
    (b'{"id": "1", "title": "t", "price": 1' + b"0" * 400 + b"}", "price"),  # OverflowError in float()
    (b'{"id": "1", "title": "t", "sizes": [NaN, 1]}', "sizes"),  # NaN inside a list attribute
    (b'{"id": "1", "title": "t", "n": 1' + b"0" * 400 + b"}", "n"),  # an attribute no float can hold
    (b'{"id": "1", "title": "bad \\ud800 title"}', "title"),  # a lone surrogate, escaped as JSON allows
    (b'{"id": "1", "title": "t", "\\udc80": 1}', "attribute"),
    (b'{"id": "1", "title": "t", "tags": ["ok", "\\udfff"]}', "tags"),
])
def test_records_the_stores_cannot_hold_are_bad_records(scratch, record, problem):
    path = scratch / "odd.jsonl"
    path.write_bytes(record)
    [result] = ingest(path)
    assert isinstance(result, BadRecord) and problem in result.reason, result


def test_broken_archives_are_unreadable_files(scratch):
    """Found by fuzzing: zlib.error from a corrupt gzip, BadZipFile / zlib.error from a corrupt zip member,
    UnicodeDecodeError from a member's local header, OSError from a Parquet file whose pages are corrupt
    (its footer still reads)."""
    good = b'{"id": "1", "title": "t"}\n' * 50
    gz = bytearray(gzip.compress(good, mtime=0))
    gz[10] ^= 0x55  # the deflate block header
    (scratch / "corrupt.jsonl.gz").write_bytes(bytes(gz))
    zipped = bytearray(zip_bytes([("a.jsonl", good)], zipfile.ZIP_DEFLATED))
    zipped[0] ^= 0x55  # the member's local header; the central directory still lists it
    (scratch / "corrupt.zip").write_bytes(bytes(zipped))
    zipped = bytearray(zip_bytes([("a.jsonl", good)], zipfile.ZIP_DEFLATED))
    zipped[40] ^= 0x55  # inside the deflated data
    (scratch / "corrupt2.zip").write_bytes(bytes(zipped))
    zipped = bytearray(zip_bytes([("a.jsonl", good)], zipfile.ZIP_STORED))
    zipped[7] |= 0x08  # the local header says its name is UTF-8 (UnicodeDecodeError)...
    zipped[30] = 0xFF  # ...and it is not
    (scratch / "badname.zip").write_bytes(bytes(zipped))
    out = io.BytesIO()
    pq.write_table(pa.table({"id": ["1"] * 1000, "title": ["t"] * 1000}), out)
    parquet = bytearray(out.getvalue())
    parquet[6] ^= 0x55  # the first page header
    (scratch / "corrupt.parquet").write_bytes(bytes(parquet))
    for name in ["corrupt.jsonl.gz", "corrupt.zip", "corrupt2.zip", "badname.zip", "corrupt.parquet"]:
        results = ingest(scratch / name)
        assert isinstance(results[-1], UnreadableFile), (name, results)


def test_nested_archives_and_odd_members(scratch):
    inner = zip_bytes([("a.jsonl", b'{"id": "1", "title": "t"}')], zipfile.ZIP_STORED)
    (scratch / "nested.zip").write_bytes(zip_bytes([("inner.zip", inner)], zipfile.ZIP_STORED))
    [refused] = ingest(scratch / "nested.zip")
    assert isinstance(refused, UnreadableFile) and "inner.zip" in str(refused)
    gz_member = zip_bytes([("a.jsonl.gz", gzip.compress(b'{"id": "1", "title": "t"}'))], zipfile.ZIP_STORED)
    (scratch / "gzmember.zip").write_bytes(gz_member)
    [item] = ingest(scratch / "gzmember.zip")
    assert isinstance(item, Item) and item.id == "1"
    (scratch / "dirs.zip").write_bytes(zip_bytes([("folder", None)], zipfile.ZIP_STORED))
    assert ingest(scratch / "dirs.zip") == []
    (scratch / "empty.zip").write_bytes(zip_bytes([], zipfile.ZIP_STORED))
    assert ingest(scratch / "empty.zip") == []


def test_csv_problems_are_reported_in_place(scratch):
    """Found by fuzzing: csv.Error (a field over the csv module's 131072-character limit) escaped; a header
    that is not UTF-8 made every row 'missing title'."""
    path = scratch / "long.csv"
    path.write_bytes(b"id,title\n1," + b"x" * 200_000 + b"\n2,fine\n")
    bad, good = ingest(path)
    assert isinstance(bad, BadRecord) and "131072" in bad.reason and bad.location.line == 2
    assert isinstance(good, Item) and good.id == "2"
    path.write_bytes(b"id,t\xffitle\n1,abc\n")
    [refused] = ingest(path)
    assert isinstance(refused, UnreadableFile) and "header" in str(refused)
    path.write_bytes(b"id," + b"x" * 200_000 + b"\n1,abc\n")
    [refused] = ingest(path)
    assert isinstance(refused, UnreadableFile) and "header" in str(refused)


@fuzz(200)
@given(st.lists(st.one_of(odd_text, st.sampled_from(["brand=supplier", "description=name,short", "id=a,b", "price=",
                                                     "=x", "colour=x", "title= , ", "title=a"])), max_size=4),
       st.one_of(st.floats(), st.sampled_from([0.01, 1.0, 1e-300, 1e300, 1e308])), wild_records)
def test_field_mapping_parses_or_refuses_and_applies(specs, scale, record):
    try:
        mapping = FieldMapping.parse(specs, scale)
    except ValueError as exc:
        message_of(exc)
        return
    assert math.isfinite(mapping.price_scale) and mapping.price_scale > 0
    try:
        check_item(mapping.apply(record))
    except InvalidItem as exc:
        message_of(exc)


@fuzz(400)
@given(st.one_of(wild_records, records, st.builds(lambda r, w: {**r, **w}, records, wild_records), json_values))
@example({"id": 10**5000, "title": "t"})  # ValueError: str() of an int past Python's 4300-digit limit
@example({"id": "1", "title": "t", "price": 10**400})  # OverflowError: float() of the int
@example({"id": "1", "title": "t", "n": 10**400})
@example({"id": "1", "title": "t", "sizes": [math.nan]})
@example({"id": "1", "title": "\ud800"})
@example({"id": "1", "title": "t", "\udc80": "x"})
def test_item_from_record_returns_a_storable_item_or_invalid_item(record):
    try:
        item = Item.from_record(record)
    except InvalidItem as exc:
        message_of(exc)
        return
    check_item(item)


# -- filters ------------------------------------------------------------------------------------

filter_field = st.text(alphabet=st.characters(exclude_characters="<>=!:", exclude_categories=("Z", "Cc", "Cs")),
                       min_size=1, max_size=10)
# A value as the CLI form can write it: no separators, no leading/trailing space, no "..".
filter_word = st.text(alphabet=st.characters(exclude_characters="<>=!:,.", exclude_categories=("Z", "Cc", "Cs")),
                      min_size=1, max_size=8)
filter_value = st.lists(filter_word, min_size=1, max_size=3).map(" ".join)
finite = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(-(10**9), 10**9).map(float))


@fuzz(300)
@given(filter_field, st.sampled_from(["=", "==", ":", "!="]), st.lists(filter_value, min_size=1, max_size=3),
       st.sampled_from(["", " "]))
def test_cli_equality_filters_parse_back_to_what_was_written(field, symbol, values, space):
    text = f"{field}{space}{symbol}{space}{','.join(values)}"
    op = "ne" if symbol == "!=" else "eq"
    assert parse_filters(text) == [Condition(field, op, tuple(values))]
    assert parse_filters([text, text]) == [Condition(field, op, tuple(values))] * 2


@fuzz(300)
@given(filter_field, st.sampled_from(["<", "<=", ">", ">=", "range"]), finite, finite, st.sampled_from(["", "$", "€"]))
def test_cli_range_filters_parse_back_to_what_was_written(field, symbol, low, high, currency):
    if symbol == "range":
        assert parse_filter(f"{field}={currency}{low!r}..{currency}{high!r}") == [
            Condition(field, "gte", (low,)), Condition(field, "lte", (high,))]
        assert parse_filter(f"{field}=..{high!r}") == [Condition(field, "lte", (high,))]
        return
    op = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[symbol]
    assert parse_filter(f" {field} {symbol} {currency}{low!r} ") == [Condition(field, op, (low,))]


FILTER_FRAGMENTS = ["price", "brand", "<=", ">=", "<", ">", "=", "==", "!=", ":", "..", ",", " ", "$", "€", "5", "10",
                    "-1", "1e999", "inf", "nan", "NaN", "1" + "0" * 400, "１００", "١٢", "Acme", "ＨＰ", "\x00", "\n"]
filter_text = st.one_of(odd_text, st.lists(st.sampled_from(FILTER_FRAGMENTS), max_size=8).map("".join))
filter_spec = st.one_of(json_values, st.dictionaries(st.one_of(st.sampled_from([*OPS, "in", "near", ""]), odd_text),
                                                     json_values, max_size=3))
any_filters = st.one_of(filter_text, st.lists(filter_text, max_size=3), st.dictionaries(field_names, filter_spec, max_size=3),
                        json_values)


def check_conditions(conditions: list[Condition]) -> None:
    """A parsed condition can be evaluated, locally and as a server expression, without raising."""
    assert all(isinstance(c, Condition) and c.op in OPS and c.field and c.values for c in conditions)
    rows = [(0, "Acme"), (1, 5), (2, ["red", 10**400, math.inf]), (3, "１００"), (4, True)]
    for condition in conditions:
        for value in condition.values:
            assert isinstance(normalize_value(value), str)
        assert Column(rows).matching(condition, 6).shape == (6,)
    for promoted in (frozenset(), frozenset({"brand", "category", "price"})):
        expression = server_expression(conditions, promoted)
        if expression is not None:
            expression.encode("utf-8")


@fuzz(600)
@given(any_filters)
@example({"price": {"lte": 10**400}})  # OverflowError: math.isfinite() of the int
@example({"price": {"gt": 10**5000}})
@example({"brand": 10**5000})  # ValueError: str() of the int, when normalised
@example({"brand": "\ud800"})  # a lone surrogate in a server expression
@example({"\udc80": "x"})
@example("brand=\ud800")
@example("price<=1" + "0" * 400)
def test_parse_filters_gives_usable_conditions_or_invalid_filter(filters):
    try:
        conditions = parse_filters(filters)
    except InvalidFilter as exc:
        message_of(exc)
        return
    check_conditions(conditions)


@fuzz(150)
@given(wild_records)
def test_filter_values_of_any_record(record):
    record = {str(k): v for k, v in record.items()}
    keys, low, high = filter_values(record)
    assert all(isinstance(k, str) for ks in keys.values() for k in ks)
    assert all(math.isfinite(v) for v in (*low.values(), *high.values()))
    promoted_values(record)


# -- query understanding ------------------------------------------------------------------------

PRICE_FRAGMENTS = [
    "under", "below", "over", "between", "and", "to", "from", "max", "min", "around", "price", "budget", "cheap",
    "menos de", "más de", "entre", "y", "hasta", "precio", "barato", "以下", "以上", "左右", "不超过", "低于", "约",
    "价格", "预算", "到", "至", "之间", "元", "块", "万", "千", "百", "五百", "两千", "三千五", "一万", "$", "€", "£",
    "¥", "￥", "usd", "eur", "k", "+", "-", "~", "<", "<=", ">", ">=", "≤", "≥", ".", ",", " ", " ", "0", "5", "30",
    "99.99", "1,299", "1.299,99", "2019", "1" + "0" * 400, "9" * 330, "１２", "５００元", "kids", "pro", "ml", "%",
    "\u3000", "\u2013", "\u202e", "\u0301", "\x00", "\ud800", "\n",
]
price_query = st.one_of(odd_text, st.text(max_size=40), st.lists(st.sampled_from(PRICE_FRAGMENTS), max_size=12).map("".join),
                        st.lists(st.sampled_from(PRICE_FRAGMENTS), max_size=10).map(" ".join))


def check_price(query: str, parsed: PriceParse) -> None:
    check_price_spans(query, parsed)
    if parsed.price is None:
        return
    bounds = parsed.price.as_filter()
    assert bounds and all(math.isfinite(v) and v >= 0 for v in bounds.values()), bounds
    low, high = parsed.price.low, parsed.price.high
    if low is not None and high is not None:
        assert low <= high
        if low == high:
            assert parsed.price.gte is not None and parsed.price.lte is not None
    # What the understand stage makes of it must be a valid filter.
    check_conditions(parse_filters({"price": bounds}))


@fuzz(800)
@given(price_query)
@example("under 1" + "0" * 400)  # float("1000...") is inf: a bound no filter accepts (InvalidFilter in search)
@example("around $" + "9" * 308)  # 1.2 x 9.99e307 overflows to inf
@example("between 1 and 1" + "0" * 400)
@example("预算" + "9" * 400 + "元")
@example("1" + "0" * 309 + "-2" + "0" * 309 + "元")
def test_parse_price_keeps_its_invariants(query):
    check_price(query, parse_price(query))


@fuzz(100)
@given(price_query, st.one_of(st.floats(), st.sampled_from([0.0, 0.2, 1.0, 1e308, math.inf, -0.0, -1.0, math.nan])))
def test_parse_price_around_is_a_finite_tolerance_or_value_error(query, around):
    try:
        parsed = parse_price(query + " around $500", around)
    except ValueError as exc:
        assert not (math.isfinite(around) and around >= 0), around
        message_of(exc)
        return
    check_price(query + " around $500", parsed)


SYNONYM_FRAGMENTS = ["tv", "television", "电视", "laptop", "note book", ",", ", ", "=>", "=", ">", "#", " ", "\t",
                     "\n", "\r\n", "\r", "\u2028", "\x85", "\ufeff", "ＴＶ", "é", "e\u0301", "\u0301", "\x00", "\ud800", "x" * 201]
synonyms_text = st.one_of(odd_text, st.text(max_size=60), st.lists(st.sampled_from(SYNONYM_FRAGMENTS), max_size=16).map("".join))


@fuzz(500)
@given(synonyms_text, st.one_of(odd_text, synonyms_text))
def test_parse_synonyms_round_trips_or_names_the_line(text, query):
    try:
        rules = parse_synonyms(text)
    except InvalidSynonyms as exc:
        message_of(exc)
        assert exc.line is not None and 1 <= exc.line <= max(1, len(text.splitlines()))
        return
    synonyms = SynonymSet(rules)
    assert parse_synonyms(synonyms.to_text()) == rules
    folded = fold(query)
    for expansion in synonyms.expand(query):
        assert 0 <= expansion.start < expansion.end <= len(folded)
        assert expansion.alternatives and expansion.phrase not in expansion.alternatives


words = st.one_of(st.text(alphabet="abcdeéñ", min_size=1, max_size=12), odd_text.filter(bool))


@fuzz(150)
@given(st.lists(st.tuples(words, st.integers(1, 100)), max_size=20), st.lists(st.one_of(words, odd_text), max_size=10))
def test_typo_corrector_takes_any_word(vocabulary, queries):
    corrector = TypoCorrector()
    for word, count in vocabulary:
        corrector.add(word, count)
    for word in queries:
        fixed = corrector.correct(word)
        assert fixed is None or fixed in corrector
    for word, count in vocabulary:
        corrector.remove(word, count)
    assert len(corrector) == 0
    for word in queries:
        assert corrector.correct(word) is None


@fuzz(150)
@given(st.lists(st.tuples(st.one_of(odd_text, st.text(max_size=30)), st.sampled_from(["title", "brand", "category", "query"]),
                          st.sampled_from([1.0, 0.5, 3.0])), max_size=12),
       st.lists(st.tuples(st.one_of(odd_text, st.text(max_size=10)), st.integers(1, MAX_K)), max_size=8))
def test_suggest_index_takes_any_text(values, prefixes):
    index = SuggestIndex(TypoCorrector(), singleton_limit=20)
    for text, kind, weight in values:
        index.add(text, kind, weight)
    index.warm(2)
    for prefix, k in prefixes:
        found = index.complete(prefix, k)
        assert len(found) <= k
        flags = [s.fuzzy for s in found]
        assert flags == sorted(flags)  # exact completions first
    for text, kind, weight in values:
        index.remove(text, kind, weight)
    assert len(index) == 0


@fuzz(60)
@given(st.sampled_from(["kind", "weight", "k"]), st.one_of(odd_text, numbers, st.none()))
@example("weight", 10**400)  # OverflowError: math.isfinite() of the int
def test_suggest_index_refuses_bad_arguments_with_value_error(what, bad):
    index = SuggestIndex()
    try:
        if what == "kind":
            index.add("Acme laptop", bad)  # type: ignore[arg-type]
        elif what == "weight":
            index.add("Acme laptop", "title", bad)  # type: ignore[arg-type]
        else:
            index.complete("ac", bad)  # type: ignore[arg-type]
    except ValueError as exc:
        message_of(exc)


@fuzz(300)
@given(st.one_of(odd_text, st.text(max_size=40), st.lists(st.sampled_from(PRICE_FRAGMENTS + SYNONYM_FRAGMENTS),
                                                          max_size=10).map("".join)))
def test_analyzer_reads_any_text(text):
    for group in Analyzer().groups(text):
        assert group and all(term for term in group)
        for term in group:
            term.encode("utf-8")  # tantivy and the SQLite lexicon take UTF-8
    for token in [*surface_tokens(text), *whole_words(text)]:
        assert token
    fold(text)


@fuzz(150)
@given(wild_records)
def test_type_key_of_any_record(record):
    key = type_key(record)
    assert key is None or isinstance(key, str)


# -- behaviour events ---------------------------------------------------------------------------

VALID_EVENT = {"type": "click", "query_id": "q1", "item_id": "i1", "position": 1, "user_id": "u", "timestamp": 1.5}
# Lone surrogates are left out here: the tests below check that parse_event refuses them.
event_value = st.one_of(json_like(clean_text), st.sampled_from([*EVENT_TYPES, "", "x" * (MAX_ID_LENGTH + 1), 0, -1, MAX_POSITION,
                                                      MAX_POSITION + 1, True, 1.0, 10**400, math.nan, math.inf]))


@st.composite
def events(draw):
    event = dict(VALID_EVENT)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.one_of(st.sampled_from(sorted(VALID_EVENT)), clean_text))
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(event_value)
    return draw(st.one_of(st.just(event), json_like(clean_text)))


@fuzz(400)
@given(events())
def test_parse_event_returns_an_event_or_names_the_field(raw):
    try:
        event = parse_event(raw, now=1000.0)
    except InvalidEvent as exc:
        text = message_of(exc)
        # An unknown key is named as sent, "" included (": is not an event field").
        assert exc.field is not None and text.startswith(exc.field + ":"), text
        return
    assert isinstance(event, Event) and event.type in EVENT_TYPES
    assert 1 <= event.position <= MAX_POSITION and math.isfinite(event.timestamp)
    assert 0 < len(event.query_id) <= MAX_ID_LENGTH and 0 < len(event.item_id) <= MAX_ID_LENGTH


def test_parse_event_refuses_ids_that_are_not_unicode():
    for field in ("query_id", "item_id", "user_id"):
        with pytest.raises(InvalidEvent, match="not valid Unicode"):
            parse_event({**VALID_EVENT, field: "\ud800"}, now=1000.0)


def test_parse_event_messages_are_unicode():
    with pytest.raises(InvalidEvent) as caught:
        parse_event({**VALID_EVENT, "\ud800": 1}, now=1000.0)
    message_of(caught.value)


# -- judgments ----------------------------------------------------------------------------------

JUDGMENT_FRAGMENTS = ["query", "docid", "rating", ",", "\n", "\r\n", "\r", '"', "q", "laptop bag", "d1", "1", "0", "3",
                      "-1", "nan", "inf", "1e999", "", "\ufeff", "\x00", "\t", " ", "x" * 140_000]
judgments_text = st.one_of(
    st.lists(st.sampled_from(JUDGMENT_FRAGMENTS), max_size=20).map("".join),
    st.lists(st.sampled_from(JUDGMENT_FRAGMENTS), max_size=14).map(lambda parts: "query,docid,rating\n" + "".join(parts)),
    odd_text,
)
trec_text = st.one_of(st.lists(st.sampled_from(["1", "0", "d1", "2", " ", "\t", "\n", "nan", "-3", "q", "\ufeff"]),
                               max_size=16).map("".join), odd_text)
queries_text = st.one_of(st.none(), st.lists(st.sampled_from(["1", "2", "\t", "laptop", "\n", " ", "\ufeff", "\r\n"]),
                                             max_size=10).map("".join), odd_text)


def check_judgments(judged: dict) -> None:
    assert judged
    for query, grades in judged.items():
        assert query and query == query.strip() and grades
        for doc, grade in grades.items():
            assert doc and math.isfinite(grade) and grade >= 0


@fuzz(400)
@given(st.one_of(judgments_text, trec_text), queries_text)
@example("query,docid,rating\nq,d,nan\n", None)  # NaN and inf grades passed as numbers
@example("query,docid,rating\nq,d,inf\n", None)
@example("\ufeffquery,docid,rating\nq,d,1\n", None)  # a BOM (Excel's CSV) read as part of "query"
@example("query,docid,rating\nq,d," + "1" * 140_000 + "\n", None)  # csv.Error: field larger than field limit
@example("1 0 d1 2\n", "\ufeff1\tlaptop\n")
def test_parse_judgments_gives_grades_or_names_the_line(text, queries):
    try:
        judged = parse_judgments(text, "upload", queries, "queries")
    except InvalidJudgments as exc:
        assert message_of(exc).startswith(("upload", "queries"))
        return
    check_judgments(judged)


@fuzz(100)
@given(st.one_of(st.binary(max_size=80), judgments_text.map(encoded).flatmap(mutated)))
@example(b"query,docid,rating\nq,d\xff,1\n")  # UnicodeDecodeError escaped load_judgments
@example(b"\xef\xbb\xbfquery,docid,rating\nq,d,1\n")
def test_load_judgments_reads_or_refuses_any_file(scratch, data):
    path = scratch / "ratings.csv"
    path.write_bytes(data)
    try:
        judged = load_judgments(path)
    except InvalidJudgments as exc:
        assert str(path) in message_of(exc)
        return
    check_judgments(judged)


def test_bom_files_parse_like_plain_ones():
    assert parse_judgments("\ufeffquery,docid,rating\nq,d,1\n") == {"q": {"d": 1.0}}
    assert parse_judgments("1 0 d 2\n", queries_text="\ufeff1\tlaptop\n") == {"laptop": {"d": 2.0}}
