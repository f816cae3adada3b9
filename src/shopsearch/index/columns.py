"""In-memory filter columns over the catalogue, and the masks recent filters made.

Shops repeat filters (category pages, price bands), so a filter's row mask is kept until the
next write. Columns are built from the catalogue on first use. Readers may ask for masks
concurrently; `replace` runs while the index's write lock keeps readers out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import numpy as np

from .filters import Column, Condition, evaluate
from .store import CatalogueStore

_KEPT_MASKS = 64


class FilterColumns:
    def __init__(self, store: CatalogueStore, size: int) -> None:
        self._store = store
        self._size = size
        self._columns: dict[str, Column] = {}
        self._masks: OrderedDict[tuple[Condition, ...], np.ndarray] = OrderedDict()
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

    def replace(self, rows: Sequence[int], records: Sequence[Mapping[str, Any]]) -> None:
        """`records` are the new versions of `rows` (empty for a delete)."""
        with self._lock:
            for name, column in self._columns.items():
                column.replace_rows(rows, [(r, rec[name]) for r, rec in zip(rows, records) if rec.get(name) is not None])
            self._masks.clear()
            if len(rows):
                self._size = max(self._size, max(rows) + 1)

    def forget(self) -> None:
        """Drop every column and mask (they are rebuilt from the catalogue on next use)."""
        with self._lock:
            self._columns.clear()
            self._masks.clear()
