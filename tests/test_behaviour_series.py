"""The analytics figures over time (SqliteEventStore.series) and the popular queries behind suggestions
(SqliteEventStore.popular_queries): the pure bucketing of behaviour/figures.py, a known log, and random
logs against analytics over each bucket's own window."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.behaviour import Event, SearchRecord, SqliteEventStore
from shopsearch.behaviour.figures import (
    DAY,
    MAX_BUCKETS,
    NICE_INTERVALS,
    TARGET_BUCKETS,
    TooManyBuckets,
    bucket_count,
    buckets,
    default_interval,
    series_window,
)

RATES = ("searches", "no_result_rate", "no_click_rate", "ctr", "mean_click_position", "conversion_rate")


def search(query_id, query, time, results=3, variant=None):
    return SearchRecord(query_id, query, None, variant, ("p1", "p2", "p3"), results, float(time))


def click(query_id, position=1, kind="click"):
    return Event(kind, query_id, "p1", position, None, 0.0)


def open_store(folder):
    return SqliteEventStore(Path(folder) / "behaviour.db", retention_days=math.inf)


# -- the pure part --------------------------------------------------------------
times = st.floats(-1e6, 2e9, allow_nan=False)
intervals = st.sampled_from([1.0, 7.0, 60.0, 90.5, 3600.0, DAY])


@given(times, st.floats(0, 5e4), intervals)
def test_buckets_tile_the_window_on_the_epoch_grid(since, length, interval):
    until = since + length
    if bucket_count(since, until, interval) > MAX_BUCKETS:
        with pytest.raises(TooManyBuckets, match="over the limit"):
            buckets(since, until, interval)
        return
    spans = buckets(since, until, interval)
    assert len(spans) == bucket_count(since, until, interval)
    if until <= since:
        assert spans == []
        return
    assert spans[0].lo == since and spans[-1].hi == until
    for a, b in zip(spans, spans[1:]):
        assert a.hi == b.lo and b.start > a.start  # no gap, no overlap, in order
    for span in spans:
        assert span.start / interval == pytest.approx(round(span.start / interval), abs=1e-6)  # on the grid
        assert span.start <= span.lo + 1e-6 * interval and span.lo <= span.hi <= span.start + interval * (1 + 1e-9)


@given(times, st.floats(1, 1e9))
def test_the_default_interval_is_the_shortest_round_one_within_the_target(since, length):
    until = since + length
    interval = default_interval(since, until)
    assert bucket_count(since, until, interval) <= TARGET_BUCKETS
    assert interval in NICE_INTERVALS or interval % DAY == 0
    shorter = [i for i in NICE_INTERVALS if i < interval] + ([interval - DAY] if interval > DAY else [])
    assert all(bucket_count(since, until, i) > TARGET_BUCKETS for i in shorter if i > 0)


def test_the_default_interval_of_the_page_windows():
    assert [default_interval(0, days * DAY) for days in (1, 7, 30)] == [900.0, 7200.0, 43200.0]


@given(times, st.floats(0, 1e7), st.none() | intervals)
def test_an_open_window_is_the_logs_span_snapped_to_the_grid(first, length, interval):
    last = first + length
    since, until, step = series_window(None, None, first, last, interval)
    assert since <= first and until > last  # both searches inside
    if interval is not None:
        assert step == interval
    assert math.isclose(since / step, round(since / step), abs_tol=1e-6) and math.isclose(until / step, round(until / step), abs_tol=1e-6)
    assert series_window(None, None, None, None, interval)[:2] == (None, None)
    assert series_window(5.0, None, None, None, interval)[:2] == (5.0, None)


@pytest.mark.parametrize("args, message", [
    ((math.nan, None, None), "since must be a finite"), ((None, math.inf, None), "until must be a finite"),
    ((10.0, 5.0, None), "since .* is after until"), ((None, None, 0.5), "interval must be"),
    ((None, None, math.nan), "interval must be")])
def test_bad_series_arguments_are_named(args, message):
    since, until, interval = args
    with pytest.raises(ValueError, match=message):
        series_window(since, until, 0.0, 1.0, interval)


# -- a known log ---------------------------------------------------------------
KNOWN = [search("s1", "shoes", 100), search("s2", "shoes", 250, variant="A"), search("s3", "bag", 299.5, results=0),
         search("s4", "bag", 300), search("s5", "hat", 650), search("s6", "hat", 900)]
KNOWN_EVENTS = [click("s1", 1), click("s1", 3), click("s2", 2), click("s2", 2, "purchase"), click("s5", 4)]


@pytest.fixture
def known(tmp_path):
    with open_store(tmp_path) as store:
        for record in KNOWN:
            store.log_search(record)
        assert store.add_events(KNOWN_EVENTS) == []
        yield store


def figures(searches, no_result, clicked, purchased, positions):
    share = (lambda k: k / searches) if searches else (lambda k: 0.0)
    return {"searches": searches, "no_result_rate": share(no_result), "no_click_rate": share(searches - clicked),
            "ctr": share(clicked), "mean_click_position": sum(positions) / len(positions) if positions else None,
            "conversion_rate": share(purchased)}


def test_known_log_in_buckets(known):
    series = known.series(interval=300)
    assert (series["interval"], series["since"], series["until"]) == (300.0, 0.0, 1200.0)
    assert series["buckets"] == [
        {"start": 0.0, **figures(3, 1, 2, 1, [1, 3, 2])},
        {"start": 300.0, **figures(1, 0, 0, 0, [])},
        {"start": 600.0, **figures(1, 0, 1, 0, [4])},
        {"start": 900.0, **figures(1, 0, 0, 0, [])},
    ]
    # A window cuts its first and last bucket; the starts stay on the same grid, empty buckets are listed.
    cut = known.series(since=250, until=700, interval=300)
    assert (cut["since"], cut["until"]) == (250.0, 700.0)
    assert [(b["start"], b["searches"]) for b in cut["buckets"]] == [(0.0, 2), (300.0, 1), (600.0, 1)]
    assert [b["searches"] for b in known.series(until=1000, interval=100)["buckets"]] == [1, 2, 1, 0, 0, 1, 0, 0, 1]
    assert known.series(interval=300) == series  # the same call, the same answer


def test_the_default_interval_and_the_caps(known):
    assert known.series()["interval"] == 60.0 and len(known.series()["buckets"]) == 15  # 60..960 s: minutes
    assert known.series(since=0, until=10 * DAY)["interval"] == 3 * 3600.0
    with pytest.raises(TooManyBuckets):
        known.series(since=0, until=MAX_BUCKETS + 1, interval=1)
    assert len(known.series(since=0, until=MAX_BUCKETS, interval=1)["buckets"]) == MAX_BUCKETS
    assert known.series(since=5000)["buckets"] == [] and known.series(since=5, until=5)["buckets"] == []


def test_an_empty_log_has_no_buckets(tmp_path):
    with open_store(tmp_path) as store:
        assert store.series() == {"interval": 60.0, "since": None, "until": None, "buckets": []}
        assert len(store.series(0, 600, 60)["buckets"]) == 10
        assert store.popular_queries() == []


logs = st.lists(st.tuples(st.sampled_from(["a", "b", "c d"]), st.sampled_from([None, "x"]), st.sampled_from([0, 2]),
                          st.floats(0, 50), st.lists(st.tuples(st.sampled_from(["click", "purchase"]), st.integers(1, 4)),
                                                     max_size=3)), max_size=14)


@settings(max_examples=40, deadline=None)
@given(logs, st.none() | st.floats(-5, 55), st.none() | st.floats(-5, 55), st.none() | st.sampled_from([1.0, 4.0, 7.5, 60.0]))
def test_every_bucket_equals_analytics_over_its_own_window(drawn, since, until, interval):
    if since is not None and until is not None and since > until:
        since, until = until, since
    records = [search(f"q{i}", q, t, results, variant) for i, (q, variant, results, t, _) in enumerate(drawn)]
    events = [click(f"q{i}", position, kind) for i, (*_, evs) in enumerate(drawn) for kind, position in evs]
    with tempfile.TemporaryDirectory() as folder, open_store(folder) as store:
        for record in records:
            store.log_search(record)
        store.add_events(events)
        series = store.series(since, until, interval)
        spans = series["buckets"]
        total = store.analytics(since, until)
        assert sum(b["searches"] for b in spans) == total["searches"]
        for i, bucket in enumerate(spans):
            lo = series["since"] if i == 0 else bucket["start"]
            hi = series["until"] if i == len(spans) - 1 else spans[i + 1]["start"]
            expected = store.analytics(lo, hi, top=0)
            assert {k: bucket[k] for k in RATES} == pytest.approx({k: expected[k] for k in RATES})
            assert bucket["start"] % series["interval"] == 0


# -- popular queries -------------------------------------------------------------
def test_popular_queries_need_repeats_with_results_and_clicks(tmp_path):
    log = [("usb charger", 10, 3, 2), ("laptop bag", 20, 4, 1), ("once", 30, 1, 1), ("nothing found", 40, 3, 0),
           ("never clicked", 50, 3, 0), ("old", -DAY, 5, 5)]
    with open_store(tmp_path) as store:
        n = 0
        for query, start, searches, clicked in log:
            for i in range(searches):
                results = 0 if query == "nothing found" else 5
                store.log_search(search(f"{query}-{i}", query, start + i, results))
                if i < clicked:
                    store.add_events([click(f"{query}-{i}")])
                n += 1
        assert store.popular_queries(since=0) == [("usb charger", 3, 2), ("laptop bag", 4, 1)]
        assert store.popular_queries(since=0, min_clicked=0) == [
            ("usb charger", 3, 2), ("laptop bag", 4, 1), ("never clicked", 3, 0)]
        assert store.popular_queries() == [("old", 5, 5), ("usb charger", 3, 2), ("laptop bag", 4, 1)]
        assert store.popular_queries(since=0, min_searches=1) == [("usb charger", 3, 2), ("laptop bag", 4, 1), ("once", 1, 1)]
        assert store.popular_queries(since=0, limit=1) == [("usb charger", 3, 2)]
        assert store.popular_queries(since=0, until=25) == [("usb charger", 3, 2), ("laptop bag", 4, 1)]
        with pytest.raises(ValueError, match="limit"):
            store.popular_queries(limit=-1)


@pytest.mark.parametrize("since, until", [(-1e308, 1e308), (-5e300, 1e9), (0.0, 1e15)])
def test_the_default_interval_of_a_window_of_any_length_fits_the_target(since, until):
    """Found by the schemathesis run: such windows once stepped through every whole day."""
    assert 1 <= bucket_count(since, until, default_interval(since, until)) <= TARGET_BUCKETS
