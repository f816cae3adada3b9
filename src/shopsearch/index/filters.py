"""Attribute filters: parsed once, evaluated as one boolean mask over rows.

Both search legs take the same mask *inside* their search, so a selective
filter still yields k results when k exist (never a post-filtered top k).

Forms accepted:
- CLI strings: `price<=50`, `price>10`, `price=10..50`, `brand=HP,Lenovo`, `brand!=HP`.
- Python/JSON: `{"price": {"gte": 10, "lte": 50}, "brand": ["HP", "Lenovo"], "color": "red"}`,
  with operators eq, ne, in, gt, gte, lt, lte (as in Elasticsearch/Qdrant range filters).

String comparison ignores case and width (NFKC + case folding), so
`brand=hp` finds "HP". Range operators compare numerically; values that are
not numbers never satisfy a range.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

RANGE_OPS = ("gt", "gte", "lt", "lte")
OPS = ("eq", "ne", *RANGE_OPS)
# A lone surrogate is no Unicode text: a server expression (UTF-8) could not carry it.
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidFilter(ValueError):
    """A filter that cannot be parsed; the message quotes it."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # one of OPS
    values: tuple  # eq/ne: any of these; range ops: exactly one number

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise InvalidFilter(f"unknown operator {self.op!r} on {self.field!r}; use one of {', '.join(OPS)}")
        if not self.field:
            raise InvalidFilter("a filter needs a field name")
        if _SURROGATE.search(self.field):
            raise InvalidFilter(f"filter field {self.field!r} is not valid Unicode (a lone surrogate)")
        if not self.values:
            raise InvalidFilter(f"filter on {self.field!r} has no value")
        for value in self.values:
            if isinstance(value, (list, tuple, dict, set)) or value is None:
                raise InvalidFilter(f"filter on {self.field!r}: values must be strings or numbers, got {value!r}")
            if isinstance(value, str) and _SURROGATE.search(value):
                raise InvalidFilter(f"filter on {self.field!r}: {value!r} is not valid Unicode (a lone surrogate)")
            if isinstance(value, int) and not isinstance(value, bool) and _number(value) is None:
                raise InvalidFilter(f"filter on {self.field!r}: a number too large to compare")
        if self.op in RANGE_OPS:
            if len(self.values) != 1 or _number(self.values[0]) is None:
                raise InvalidFilter(f"{self.field} {self.op} needs one number, got {self.values!r}")


_CLI = re.compile(r"^\s*([^<>=!\s]+)\s*(<=|>=|!=|==|=|<|>|:)\s*(.*?)\s*$")
_CLI_OPS = {"<=": "lte", ">=": "gte", "<": "lt", ">": "gt", "=": "eq", "==": "eq", ":": "eq", "!=": "ne"}


def parse_filter(text: str) -> list[Condition]:
    """One CLI filter string into conditions (a `a..b` range gives two)."""
    match = _CLI.match(text)
    if not match or not match.group(3):
        raise InvalidFilter(f"cannot parse filter {text!r}; expected e.g. 'price<=50' or 'brand=HP,Lenovo'")
    field, symbol, raw = match.groups()
    op = _CLI_OPS[symbol]
    if op == "eq" and ".." in raw:
        low, _, high = raw.partition("..")
        conditions = []
        if low.strip():
            conditions.append(Condition(field, "gte", (_require_number(low, text),)))
        if high.strip():
            conditions.append(Condition(field, "lte", (_require_number(high, text),)))
        if not conditions:
            raise InvalidFilter(f"empty range in filter {text!r}")
        return conditions
    if op in RANGE_OPS:
        return [Condition(field, op, (_require_number(raw, text),))]
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    return [Condition(field, op, values)]


def parse_filters(filters: Any) -> list[Condition]:
    """Any accepted form (None, CLI strings, a mapping, Conditions) into a list of conditions."""
    if filters is None:
        return []
    if isinstance(filters, str):
        return parse_filter(filters)
    if isinstance(filters, Mapping):
        conditions = []
        for field, spec in filters.items():
            conditions.extend(_from_mapping(str(field), spec))
        return conditions
    if isinstance(filters, Iterable):
        conditions = []
        for f in filters:
            conditions.extend([f] if isinstance(f, Condition) else parse_filters(f))
        return conditions
    raise InvalidFilter(f"filters must be strings or a mapping, got {type(filters).__name__}")


def _from_mapping(field: str, spec: Any) -> list[Condition]:
    if isinstance(spec, Mapping):
        if not spec:
            raise InvalidFilter(f"filter on {field!r} is empty")
        out = []
        for op, value in spec.items():
            if op == "in":
                op = "eq"
            if op not in OPS:
                raise InvalidFilter(f"unknown operator {op!r} on {field!r}; use one of in, {', '.join(OPS)}")
            values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            out.append(Condition(field, op, values))
        return out
    if isinstance(spec, (list, tuple)):
        return [Condition(field, "eq", tuple(spec))]
    return [Condition(field, "eq", (spec,))]


def _require_number(raw: str, text: str) -> float:
    value = _number(raw)
    if value is None:
        raise InvalidFilter(f"{raw.strip()!r} is not a number in filter {text!r}")
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int no float can hold
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().lstrip("$€£¥"))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def normalize_value(value: Any) -> str:
    """Canonical text of a scalar for equality: 'HP' == 'hp', 5 == 5.0 == '5'."""
    number = _number(value) if not isinstance(value, str) else None
    if number is not None:
        return repr(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = unicodedata.normalize("NFKC", str(value)).casefold().strip()
    number = _number(text)
    if number is not None and re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        return repr(int(number)) if number.is_integer() else repr(number)
    return text


class Column:
    """One field over all rows, in forms that filter by vectorised numpy ops."""

    def __init__(self, pairs: Sequence[tuple[int, Any]] = ()) -> None:
        self._vocab: dict[str, int] = {}
        self.rows, self.codes, self.num_rows, self.nums = self._arrays(pairs)

    def _arrays(self, pairs: Sequence[tuple[int, Any]]):
        rows, codes, num_rows, nums = [], [], [], []
        for row, value in pairs:
            for v in value if isinstance(value, list) else (value,):
                rows.append(row)
                codes.append(self._vocab.setdefault(normalize_value(v), len(self._vocab)))
                number = _number(v)
                if number is not None:
                    num_rows.append(row)
                    nums.append(number)
        return (np.asarray(rows, dtype=np.int64), np.asarray(codes, dtype=np.int32),
                np.asarray(num_rows, dtype=np.int64), np.asarray(nums, dtype=np.float64))

    def replace_rows(self, rows: Sequence[int], pairs: Sequence[tuple[int, Any]]) -> None:
        """Forget `rows`' values and add `pairs`: a write updates the column
        in place instead of re-reading the whole catalogue."""
        replaced = np.asarray(rows, dtype=np.int64)
        keep = ~np.isin(self.rows, replaced)
        keep_num = ~np.isin(self.num_rows, replaced)
        new_rows, new_codes, new_num_rows, new_nums = self._arrays(pairs)
        self.rows = np.concatenate([self.rows[keep], new_rows])
        self.codes = np.concatenate([self.codes[keep], new_codes])
        self.num_rows = np.concatenate([self.num_rows[keep_num], new_num_rows])
        self.nums = np.concatenate([self.nums[keep_num], new_nums])

    def matching(self, condition: Condition, size: int) -> np.ndarray:
        mask = np.zeros(size, dtype=bool)
        if condition.op in ("eq", "ne"):
            wanted = np.zeros(len(self._vocab) + 1, dtype=bool)
            for key in map(normalize_value, condition.values):
                if key in self._vocab:
                    wanted[self._vocab[key]] = True
            mask[_within(self.rows[wanted[self.codes]], size)] = True
            if condition.op == "ne":
                mask = ~mask
            return mask
        bound = _number(condition.values[0])
        assert bound is not None  # Condition.__post_init__ refuses a range without one number
        compare = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal}[condition.op]
        mask[_within(self.num_rows[compare(self.nums, bound)], size)] = True
        return mask


def _within(rows: np.ndarray, size: int) -> np.ndarray:
    """The rows a mask of `size` covers. A column built on first use reads the catalogue as it is now,
    which may already hold a write's rows that the searching reader's index state does not (the write
    swaps its state in after committing): those rows are not the reader's to match."""
    return rows[rows < size]


def evaluate(conditions: Sequence[Condition], column: Callable[[str], Column], size: int) -> np.ndarray:
    """AND of all conditions as a boolean mask over rows 0..size-1."""
    mask = np.ones(size, dtype=bool)
    for condition in conditions:
        mask &= column(condition.field).matching(condition, size)
    return mask


# Long free-text fields are left out of the copies a server filters on; a condition on one of
# them is answered from the local row mask instead (see server_expression).
SERVER_UNFILTERED = frozenset({"title", "description"})


def filter_values(record: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, float], dict[str, float]]:
    """What a search server needs to filter one item as Column does: per field, the normalised
    keys (for eq/ne) and the smallest and largest number (a range matches when any value does).

    Values are read as the catalogue's SQLite store hands them to Column: a boolean stays a
    boolean ("true"/"false" for eq and ne, no number for ranges)."""
    keys: dict[str, list[str]] = {}
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for name, value in record.items():
        if name in SERVER_UNFILTERED or value is None:
            continue
        if isinstance(value, dict):
            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        values = value if isinstance(value, list) else [value]
        keys[name] = list(dict.fromkeys(normalize_value(v) for v in values))
        numbers = [n for n in map(_number, values) if n is not None]
        if numbers:
            low[name], high[name] = min(numbers), max(numbers)
    return keys, low, high


# Canonical fields a search server can hold as typed scalar columns (one value per item, null
# when absent) with their own index: strings by normalised key (eq/ne), the price as a number (ranges).
PROMOTED_KEYS = ("brand", "category")
PROMOTED_NUMBERS = ("price",)


def promoted_values(record: Mapping[str, Any]) -> dict[str, str | float | None]:
    """The typed scalar copies of a record's canonical filter fields (None when absent)."""
    values: dict[str, str | float | None] = {}
    for name in PROMOTED_KEYS:
        value = record.get(name)
        values[name] = normalize_value(value) if value is not None and not isinstance(value, (list, dict)) else None
    for name in PROMOTED_NUMBERS:
        value = record.get(name)
        values[name] = _number(value) if not isinstance(value, (bool, list, dict)) and value is not None else None
    return values


def server_expression(conditions: Sequence[Condition], promoted: frozenset[str] = frozenset()) -> str | None:
    """A Milvus boolean expression equal to evaluate(conditions), or None when a condition needs
    the local mask. Over filter_values' JSON fields (`keys`, `num_min`, `num_max`), or, for the
    `promoted` scalar columns, over those: `brand in [...]`, `price <= 50` (a null never matches
    `in` or a range, and `not (x in [...])` keeps it, as the JSON form and the local mask do)."""
    parts = []
    for condition in conditions:
        if condition.field in SERVER_UNFILTERED:
            return None
        field = json.dumps(condition.field, ensure_ascii=False)
        if condition.op in ("eq", "ne"):
            wanted = json.dumps(list(dict.fromkeys(map(normalize_value, condition.values))), ensure_ascii=False)
            if condition.field in promoted and condition.field in PROMOTED_KEYS:
                part = f"{condition.field} in {wanted}"
            else:
                part = f"json_contains_any(keys[{field}], {wanted})"
            parts.append(part if condition.op == "eq" else f"not ({part})")
        else:
            bound = repr(_number(condition.values[0]))
            symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[condition.op]
            if condition.field in promoted and condition.field in PROMOTED_NUMBERS:
                parts.append(f"{condition.field} {symbol} {bound}")
                continue
            side = "num_max" if condition.op in ("gt", "gte") else "num_min"
            parts.append(f"{side}[{field}] {symbol} {bound}")
    return " and ".join(f"({p})" for p in parts)
