import csv
import gzip
import json
import zipfile

import pytest

from helpers import ICECAT_MAP, ICECAT_SLICE
from shopsearch.index.ingest import BadRecord, FieldMapping, UnreadableFile, read_items
from shopsearch.index.items import InvalidItem, Item, parse_price

RECORDS = [
    {"id": "1", "title": "Red shoe", "brand": "Acme", "price": 10.5, "color": "red"},
    {"id": 2, "title": "Blue shoe", "price": "12", "sizes": [40, 41]},
]


def ingest(path, *maps, scale=1.0):
    return list(read_items([path], FieldMapping.parse(maps, scale)))


def good(results):
    return [r for _, r in results if isinstance(r, Item)]


def test_icecat_zip_loads_as_is_with_mapping():
    items = good(ingest(ICECAT_SLICE, *ICECAT_MAP, scale=0.01))
    assert len(items) == 213
    item = items[0]
    assert item.brand and item.description and item.price is not None
    assert "supplier" not in item.attributes and "name" not in item.attributes  # consumed by --map
    assert any(k.startswith("attr_") for k in item.attributes)


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "json", "json.gz", "json.zip", "csv", "csv.gz", "parquet"])
def test_every_format_and_compression(tmp_path, suffix):
    path = tmp_path / f"catalogue.{suffix}"
    fmt = suffix.split(".")[0]
    if fmt == "jsonl":
        data = "\n".join(json.dumps(r) for r in RECORDS).encode()
    elif fmt == "json":
        data = json.dumps(RECORDS).encode()
    elif fmt == "csv":
        rows = [{k: v for k, v in r.items() if k != "sizes"} for r in RECORDS]
        with open(tmp_path / "plain.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["id", "title", "brand", "price", "color"])
            writer.writeheader()
            writer.writerows(rows)
        data = (tmp_path / "plain.csv").read_bytes()
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist([{**r, "id": str(r["id"]), "price": float(r["price"])} for r in RECORDS]), path)
        data = None
    if data is not None:
        if suffix.endswith(".gz"):
            data = gzip.compress(data)
        if suffix.endswith(".zip"):
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("inner.json", data)
        else:
            path.write_bytes(data)
    items = good(ingest(path))
    assert [i.id for i in items] == ["1", "2"]
    assert items[0].price == 10.5 and items[1].price == 12.0
    assert items[0].brand == "Acme"


def test_bad_records_are_reported_with_line_and_skipped(tmp_path):
    lines = [
        json.dumps({"id": "ok1", "title": "fine"}).encode(),
        json.dumps({"title": "no id"}).encode(),
        json.dumps({"id": "x2", "title": ""}).encode(),
        json.dumps({"id": "x3", "title": "t", "price": "cheap"}).encode(),
        b'{"id": "x4", "title": "caf\xe9"}',  # latin-1, not UTF-8
        b"this is not json",
        json.dumps(["not", "an", "object"]).encode(),
        json.dumps({"id": "ok2", "title": "also fine", "price": "3.50"}).encode(),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines))
    results = ingest(path)
    bad = {r.location.line: r.reason for _, r in results if isinstance(r, BadRecord)}
    assert [i.id for i in good(results)] == ["ok1", "ok2"]
    assert bad[2] == "missing id"
    assert bad[3] == "missing title"
    assert "unparsable price" in bad[4]
    assert bad[5] == "invalid UTF-8"
    assert bad[6].startswith("not JSON")
    assert "must be an object" in bad[7]
    assert str([r for _, r in results if isinstance(r, BadRecord)][0]).startswith(f"{path}:2: ")


def test_json_array_reports_the_line_of_each_bad_record(tmp_path):
    path = tmp_path / "arr.json"
    path.write_text('[\n {"id": "a", "title": "A"},\n {"id": "b"},\n {"id": "c", "title": "C"}\n]')
    results = ingest(path)
    assert [i.id for i in good(results)] == ["a", "c"]
    assert [(r.location.line, r.reason) for _, r in results if isinstance(r, BadRecord)] == [(3, "missing title")]


def test_broken_json_array_keeps_what_came_before(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"id": "a", "title": "A"},\n {"id": "b", "title": ')
    results = ingest(path)
    assert [i.id for i in good(results)] == ["a"]
    assert any(isinstance(r, BadRecord) for _, r in results)


def test_csv_with_wrong_column_count_and_bad_utf8(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,title,price\n1,One,2\n2,Two\n3,Thr\xff,4\n4,Four,5\n")
    results = ingest(path)
    assert [i.id for i in good(results)] == ["1", "4"]
    bad = {r.location.line: r.reason for _, r in results if isinstance(r, BadRecord)}
    assert "columns" in bad[3] and bad[4] == "invalid UTF-8"


def test_mapping_joins_fields_and_scales_prices(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"sku": "A1", "name": "Shoe", "maker": "Acme", "blurb": "light", "more": "airy", "cents": 1999}))
    (item,) = good(ingest(path, "id=sku", "title=name", "brand=maker", "description=blurb,more", "price=cents", scale=0.01))
    assert (item.id, item.title, item.brand, item.description, item.price) == ("A1", "Shoe", "Acme", "light airy", 19.99)
    assert item.attributes == {}


@pytest.mark.parametrize("spec", ["brand", "brand=", "colour=x", "id=a,b"])
def test_bad_mapping_specs_are_rejected(spec):
    with pytest.raises(ValueError):
        FieldMapping.parse([spec])


def test_unreadable_files(tmp_path):
    with pytest.raises(UnreadableFile, match="no such file"):
        ingest(tmp_path / "missing.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(UnreadableFile, match="unknown format"):
        ingest(tmp_path / "x.txt")
    (tmp_path / "y.json.zip").write_text("not a zip")
    with pytest.raises(UnreadableFile, match="not a zip"):
        ingest(tmp_path / "y.json.zip")


@pytest.mark.parametrize("value,expected", [(None, None), ("", None), (5, 5.0), ("7.25", 7.25), (" 3 ", 3.0)])
def test_price_parsing(value, expected):
    assert parse_price(value) == expected


@pytest.mark.parametrize("value", ["abc", "$5", -1, float("nan"), True, "1,299"])
def test_unparsable_prices(value):
    with pytest.raises(InvalidItem):
        parse_price(value)
