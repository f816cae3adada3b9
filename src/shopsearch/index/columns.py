"""In-memory filter columns over the catalogue, and the masks recent filters made.

Shops repeat filters (category pages, price bands), so a filter's row mask is kept until the
next write. Columns are built from the catalogue on first use. Readers may ask for masks
concurrently; `replace` runs while the index's write lock keeps readers out.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import date, datetime, timezone
from typing import Any, Mapping, Sequence

import numpy as np

from .filters import Column, Condition, _number, evaluate
from .store import CatalogueStore

_KEPT_MASKS = 64


class FilterColumns:
    def __init__(self, store: CatalogueStore, size: int) -> None:
        self._store = store
        self._size = size
        self._columns: dict[str, Column] = {}
        self._masks: OrderedDict[tuple[Condition, ...], np.ndarray] = OrderedDict()
        self._sortable: dict[str, np.ndarray] = {}  # field -> each row's sort value (NaN: none)
        self._lock = threading.Lock()  # the two dicts; building a column or a mask runs outside it

    @property
    def size(self) -> int:
        """Rows a mask covers (one past the highest row the catalogue has used)."""
        return self._size

    def mask(self, conditions: Sequence[Condition]) -> np.ndarray:
        key = tuple(conditions)
        with self._lock:
            mask = self._masks.get(key)
            if mask is not None:
                self._masks.move_to_end(key)
                return mask
        mask = evaluate(conditions, self._column, self._size)
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > _KEPT_MASKS:
                self._masks.popitem(last=False)
        return mask

    def _column(self, name: str) -> Column:
        with self._lock:
            column = self._columns.get(name)
        if column is None:
            built = Column(self._store.field_values(name))
            with self._lock:
                column = self._columns.setdefault(name, built)
        return column

    def sort_values(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Each row's value of `name` to sort by (a number, or a date as its timestamp); NaN where it has none."""
        dense = self._sort_column(name)
        out = np.full(len(rows), np.nan)
        inside = rows < len(dense)
        out[inside] = dense[rows[inside]]
        return out

    def can_sort(self, name: str) -> bool:
        return bool(np.isfinite(self._sort_column(name)).any())

    def _sort_column(self, name: str) -> np.ndarray:
        with self._lock:
            dense = self._sortable.get(name)
        if dense is None:
            dense = np.full(self._size, np.nan)
            for row, value in self._store.field_values(name):
                if row < len(dense):
                    dense[row] = sort_number(value)
            with self._lock:
                dense = self._sortable.setdefault(name, dense)
        return dense

    def replace(self, rows: Sequence[int], records: Sequence[Mapping[str, Any]]) -> None:
        """`records` are the new versions of `rows` (empty for a delete)."""
        with self._lock:
            for name, column in self._columns.items():
                column.replace_rows(rows, [(r, rec[name]) for r, rec in zip(rows, records) if rec.get(name) is not None])
            size = max(self._size, max(rows) + 1) if len(rows) else self._size
            if len(rows):
                for name, dense in self._sortable.items():
                    if len(dense) < size:
                        dense = self._sortable[name] = np.concatenate([dense, np.full(size - len(dense), np.nan)])
                    dense[np.asarray(rows, dtype=np.int64)] = np.nan
                    for row, record in zip(rows, records):
                        dense[row] = sort_number(record.get(name))
            self._masks.clear()
            self._size = size

    def forget(self) -> None:
        """Drop every column and mask (they are rebuilt from the catalogue on next use)."""
        with self._lock:
            self._columns.clear()
            self._masks.clear()
            self._sortable.clear()


def sort_number(value: Any) -> float:
    """What a value sorts as: a number as itself, an ISO date or date-time as its UTC timestamp, a list
    by its first such value; NaN for anything else (which sorts last)."""
    if isinstance(value, list):
        for v in value:
            number = sort_number(v)
            if not math.isnan(number):
                return number
        return math.nan
    plain = _number(value)
    if plain is not None:
        return plain
    if isinstance(value, str) and value[:1].isdigit():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = datetime.combine(date.fromisoformat(value.strip()), datetime.min.time())
            except ValueError:
                return math.nan
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return math.nan
