"""Pure parts of the store: the figures analytics reports from aggregated rows, which index a window
is read through, and what a batch of events changes.

Kept apart from the SQLite code so that each can be checked against a direct computation
(tests/test_behaviour_store.py) without a database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from .events import Event
from .schema import TYPE_CODES

# Below this share of the stored searches a window's rows are few enough that a range scan of the
# time index plus sorting them for GROUP BY beats walking the grouped indexes whole (measured break-
# even around 7% on 2 million searches).
NARROW_SHARE = 0.05

LIST_NAMES = ("top_queries", "no_result_queries", "no_click_queries")


class Counts(NamedTuple):
    """Aggregates over a set of searches, as the SQL returns them."""

    searches: int = 0
    no_result: int = 0
    clicked: int = 0  # searches with at least one click
    purchased: int = 0  # searches with at least one purchase
    clicks: int = 0
    click_position_sum: int = 0


def plus(a: Counts, b: Counts) -> Counts:
    return Counts(*(x + y for x, y in zip(a, b)))


def narrow_budget(first_row: int | None, last_row: int | None) -> int:
    """How many searches a window may hold and still be read through the time index.

    NARROW_SHARE of the searches stored, counted as the span of row numbers: rows are numbered in
    logging order and pruning removes the oldest, so the span is the count (or a little more), in
    two index lookups where COUNT(*) would scan. The caller counts the window's rows up to the
    budget, so a window where traffic bunches up is judged by its rows, not by its length of time.
    """
    if first_row is None or last_row is None:
        return 0  # empty store
    return int(NARROW_SHARE * (last_row - first_row + 1))


def rates(counts: Counts) -> dict[str, Any]:
    n = counts.searches
    share = (lambda k: k / n) if n else (lambda k: 0.0)
    return {
        "searches": n,
        "no_result_rate": share(counts.no_result),
        "no_click_rate": share(n - counts.clicked),
        "ctr": share(counts.clicked),
        "mean_click_position": counts.click_position_sum / counts.clicks if counts.clicks else None,
        "conversion_rate": share(counts.purchased),
    }


def top_list(candidates: Iterable[tuple[str, int]], top: int) -> list[dict[str, Any]]:
    """The `top` most frequent, count descending then query ascending."""
    ordered = sorted(candidates, key=lambda qc: (-qc[1], qc[0]))
    return [{"query": q, "count": c} for q, c in ordered[:top]]


def assemble(variant_rows: Iterable[Sequence[Any]], list_rows: Iterable[Sequence[Any]], top: int) -> dict[str, Any]:
    """The analytics answer from VARIANT_FIGURES rows (name, id, six aggregates) and QUERY_LISTS rows."""
    total = Counts()
    variants: dict[str, Counts] = {}
    for name, variant, *aggregates in variant_rows:
        counts = Counts(*(value or 0 for value in aggregates))  # SUM over no rows is NULL
        total = plus(total, counts)
        if variant is not None:
            variants[name] = counts
    lists: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for which, text, count in list_rows:
        lists[which].append((text, count))
    figures = rates(total)
    for which, key in enumerate(LIST_NAMES):
        figures[key] = top_list(lists[which], top)
    figures["variants"] = {name: rates(variants[name]) for name in sorted(variants)}
    return figures


def window(since: float | None, until: float | None) -> tuple[float, float]:
    """[since, until) with None as unbounded; SQLite compares REAL against infinities as expected."""
    return (-math.inf if since is None else float(since), math.inf if until is None else float(until))


class EventBatch(NamedTuple):
    unknown: list[int]  # indexes into the batch of events whose query_id is no logged search
    rows: list[tuple[int, int, str, int, str | None, float]]  # events rows: search, type, item, position, user, time
    updates: list[tuple[int, int, int, int, int]]  # per search: clicks, carts, purchases, position sum, row


def event_batch(events: Sequence[Event], search_rows: Mapping[str, int]) -> EventBatch:
    """Split a batch into unknown ones and the inserts and counter increments for the rest."""
    unknown: list[int] = []
    rows = []
    deltas: dict[int, list[int]] = {}
    for i, event in enumerate(events):
        search = search_rows.get(event.query_id)
        if search is None:
            unknown.append(i)
            continue
        code = TYPE_CODES[event.type]
        rows.append((search, code, event.item_id, event.position, event.user_id, event.timestamp))
        # EVENT_TYPES is (click, add_to_cart, purchase): a type's code is its counter's place.
        delta = deltas.setdefault(search, [0, 0, 0, 0])
        delta[code] += 1
        if code == TYPE_CODES["click"]:
            delta[3] += event.position
    # Ascending rows: the UPDATEs then walk the table and its indexes in order.
    updates = [(d[0], d[1], d[2], d[3], search) for search, d in sorted(deltas.items())]
    return EventBatch(unknown, rows, updates)
