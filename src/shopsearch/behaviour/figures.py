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


def assemble(variant_rows: Iterable[Sequence[Any]], list_rows: Iterable[Sequence[Any]], top: int,
             rule_rows: Iterable[Sequence[Any]] = ()) -> dict[str, Any]:
    """The analytics answer from VARIANT_FIGURES rows (name, id, six aggregates), QUERY_LISTS rows and
    RULE_FIGURES rows (shaped as VARIANT_FIGURES')."""
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
    figures["rules"] = {name: rates(Counts(*(value or 0 for value in aggregates)))
                        for name, _, *aggregates in sorted(rule_rows, key=lambda row: row[0])}
    return figures


def window(since: float | None, until: float | None) -> tuple[float, float]:
    """[since, until) with None as unbounded; SQLite compares REAL against infinities as expected."""
    return (-math.inf if since is None else float(since), math.inf if until is None else float(until))


# -- the figures over time (series) ------------------------------------------------
# A plot has no use for more points, and each bucket is one statement: the cap bounds a request's work.
MAX_BUCKETS = 1000
TARGET_BUCKETS = 100  # the default interval cuts a window into at most this many
MIN_INTERVAL = 1.0  # seconds
DAY = 86_400
# Default intervals: whole minutes, hours, then days, so that bucket starts read as round times.
NICE_INTERVALS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, DAY)


class TooManyBuckets(ValueError):
    """A series that would hold more than MAX_BUCKETS buckets."""


class Bucket(NamedTuple):
    start: float  # on the grid of multiples of the interval from the unix epoch, so every call agrees
    lo: float  # [lo, hi): the part of [start, start + interval) inside the window
    hi: float


def bucket_count(since: float, until: float, interval: float) -> int:
    """How many grid buckets [since, until) touches (one at least: a division may round a tiny window to none)."""
    return max(1, math.ceil(until / interval) - math.floor(since / interval)) if until > since else 0


def check_series(since: float | None, until: float | None, interval: float | None) -> None:
    """ValueError naming the first bad argument."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number of unix seconds, not {value!r}")
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since:g}) is after until ({until:g})")
    if interval is not None and not (isinstance(interval, (int, float)) and math.isfinite(interval)
                                     and interval >= MIN_INTERVAL):
        raise ValueError(f"interval must be a finite number of seconds >= {MIN_INTERVAL:g}, not {interval!r}")


def default_interval(since: float, until: float, target: int = TARGET_BUCKETS) -> float:
    """The shortest of NICE_INTERVALS, else whole days, cutting [since, until) into at most `target` buckets."""
    for interval in NICE_INTERVALS:
        if bucket_count(since, until, interval) <= target:
            return float(interval)
    span = until / DAY - since / DAY  # in days; finite where until - since would overflow
    days = max(1, math.ceil(span / target))
    for more in range(3):  # the grid's alignment can cost one bucket more
        if bucket_count(since, until, (days + more) * DAY) <= target:
            return float((days + more) * DAY)
    # ceil(span / d) + 1 buckets at most: this many days always fits (a window of centuries and beyond).
    return float(max(days + 3, math.ceil(span / max(1, target - 1))) * DAY)


class Window(NamedTuple):
    since: float | None  # [since, until); None: an open end with no search stored to put it at
    until: float | None
    interval: float


def series_window(since: float | None, until: float | None, first: float | None, last: float | None,
                  interval: float | None) -> Window:
    """The window and interval of a series. A bound left None is the edge of the bucket holding the oldest
    (first) or newest (last) search stored, which adds no search (None with an empty log). interval None:
    default_interval over the window."""
    check_series(since, until, interval)
    newest = 0.0
    if since is None or until is None:
        if first is None or last is None:
            return Window(since, until, float(interval or NICE_INTERVALS[0]))
        newest = float(last)
        lo = float(first) if since is None else float(since)
        hi = math.nextafter(newest, math.inf) if until is None else float(until)
    else:
        lo, hi = float(since), float(until)
    if hi <= lo:  # an open end that the log does not reach: nothing to count
        return Window(lo, lo, float(interval or NICE_INTERVALS[0]))
    step = float(interval) if interval is not None else default_interval(lo, hi)
    # min/max: a rounded division must not put the snapped edge past the search it has to include.
    if since is None:
        lo = min(lo, math.floor(lo / step) * step)
    if until is None:
        hi = max(hi, (math.floor(newest / step) + 1) * step)
    return Window(lo, hi, step)


def buckets(since: float, until: float, interval: float, limit: int = MAX_BUCKETS) -> list[Bucket]:
    """The grid buckets [since, until) touches, each clipped to the window: their [lo, hi) tile it exactly."""
    n = bucket_count(since, until, interval)
    if n > limit:
        raise TooManyBuckets(f"{n:,} buckets of {interval:g} s between {since:g} and {until:g}, over the limit of "
                             f"{limit:,}: ask for a longer interval or a shorter window")
    first = math.floor(since / interval)
    starts = [float((first + i) * interval) for i in range(n)]
    # Inner edges are grid points clipped into the window, so the pieces never overlap nor leave a gap.
    edges = [since, *(min(max(s, since), until) for s in starts[1:]), until]
    return [Bucket(start, lo, hi) for start, lo, hi in zip(starts, edges, edges[1:])]


def series_figures(spans: Sequence[Bucket], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Per bucket, its start and rates() of its SERIES_BUCKET row (six aggregates, NULL sums over no rows)."""
    return [{"start": span.start, **rates(Counts(*(value or 0 for value in row)))} for span, row in zip(spans, rows)]


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
