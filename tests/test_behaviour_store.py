"""The behaviour log (shopsearch.behaviour): event validation, exact analytics over a known log and over
random ones against a direct computation, durability across kill -9, retention, and threads."""

from __future__ import annotations

import math
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.behaviour import (
    EVENT_TYPES,
    Event,
    InvalidEvent,
    SearchRecord,
    SqliteEventStore,
    figures,
    parse_event,
    store as store_module,
)
from shopsearch.behaviour.figures import event_batch, narrow_budget, top_list

SRC = Path(__file__).resolve().parents[1] / "src"

# Forces one of analytics' two plans: 0.0 walks the grouped indexes, 2.0 range-scans the time index
# (the budget of rows in the window is 0, or more than there are).
PLANS = {"wide": 0.0, "narrow": 2.0}


def search(query_id, query, variant=None, results=3, time=0.0, user_id=None, shown=("p1", "p2", "p3"), rules=()):
    return SearchRecord(query_id=query_id, query=query, user_id=user_id, variant=variant, shown=tuple(shown),
                        results=results, time=float(time), rules=tuple(rules))


def event(kind, query_id, position=1, item_id="p1", user_id=None, timestamp=0.0):
    return Event(type=kind, query_id=query_id, item_id=item_id, position=position, user_id=user_id, timestamp=timestamp)


def open_store(path, **kwargs):
    kwargs.setdefault("retention_days", math.inf)  # the fixed times below are decades old
    return SqliteEventStore(path / "behaviour.db", **kwargs)


def stored(path, sql, args=()):
    with sqlite3.connect(path / "behaviour.db") as db:
        return db.execute(sql, args).fetchall()


# -- parse_event --------------------------------------------------------------
def test_parse_event_takes_every_field():
    raw = {"type": "purchase", "query_id": "q1", "item_id": "p9", "position": 4, "user_id": "u7", "timestamp": 12}
    assert parse_event(raw, now=99.0) == Event("purchase", "q1", "p9", 4, "u7", 12.0)


@pytest.mark.parametrize("extra", [{}, {"user_id": None, "timestamp": None}])
def test_parse_event_defaults_user_to_none_and_time_to_now(extra):
    parsed = parse_event({"type": "click", "query_id": "q", "item_id": "i", "position": 1, **extra}, now=5.5)
    assert parsed == Event("click", "q", "i", 1, None, 5.5)


VALID = {"type": "click", "query_id": "q", "item_id": "i", "position": 2}


@pytest.mark.parametrize("raw,field", [
    (["not", "an", "object"], "event"),
    ({**VALID, "colour": "red"}, "colour"),
    ({k: v for k, v in VALID.items() if k != "type"}, "type"),
    ({**VALID, "type": "view"}, "type"),
    ({**VALID, "type": ["click"]}, "type"),
    ({k: v for k, v in VALID.items() if k != "query_id"}, "query_id"),
    ({**VALID, "query_id": ""}, "query_id"),
    ({**VALID, "query_id": 17}, "query_id"),
    ({**VALID, "query_id": "q" * 513}, "query_id"),
    ({k: v for k, v in VALID.items() if k != "item_id"}, "item_id"),
    ({**VALID, "item_id": ""}, "item_id"),
    ({k: v for k, v in VALID.items() if k != "position"}, "position"),
    ({**VALID, "position": 0}, "position"),
    ({**VALID, "position": -3}, "position"),
    ({**VALID, "position": 1.0}, "position"),
    ({**VALID, "position": True}, "position"),
    ({**VALID, "position": "2"}, "position"),
    ({**VALID, "position": 10**30}, "position"),
    ({**VALID, "user_id": 5}, "user_id"),
    ({**VALID, "timestamp": "yesterday"}, "timestamp"),
    ({**VALID, "timestamp": math.nan}, "timestamp"),
    ({**VALID, "timestamp": math.inf}, "timestamp"),
    ({**VALID, "timestamp": True}, "timestamp"),
    ({**VALID, "timestamp": 10**400}, "timestamp"),
])
def test_parse_event_names_the_bad_field(raw, field):
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, now=0.0)
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")
    assert isinstance(caught.value, ValueError)


ids = st.text(min_size=1, max_size=20)


@given(st.sampled_from(EVENT_TYPES), ids, ids, st.integers(1, 10**6), st.none() | ids,
       st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**12, 10**12))
def test_parse_event_keeps_what_it_validates(kind, query_id, item_id, position, user_id, timestamp):
    raw = {"type": kind, "query_id": query_id, "item_id": item_id, "position": position, "user_id": user_id,
           "timestamp": timestamp}
    parsed = parse_event(raw, now=1.25)
    assert parsed == Event(kind, query_id, item_id, position, user_id, 1.25 if timestamp is None else float(timestamp))


# -- the pure parts -----------------------------------------------------------
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(1, 5)), unique_by=lambda qc: qc[0]), st.integers(0, 7))
def test_top_list_is_the_head_of_the_full_order(candidates, top):
    listed = [(entry["query"], entry["count"]) for entry in top_list(candidates, top)]
    assert listed == sorted(candidates, key=lambda qc: (-qc[1], qc[0]))[:top]


@given(st.integers(1, 10**7), st.integers(0, 10**7))
def test_the_narrow_budget_is_a_share_of_the_rows_stored(first, count):
    budget = narrow_budget(first, first + count - 1)
    assert 0 <= budget <= figures.NARROW_SHARE * count < budget + 1
    assert narrow_budget(None, None) == 0


@given(st.lists(st.tuples(st.sampled_from(EVENT_TYPES), st.sampled_from("abcz"), st.integers(1, 9)), max_size=30))
def test_event_batch_counts_per_search(drawn):
    events = [event(kind, query_id, position) for kind, query_id, position in drawn]
    rows = {"a": 1, "b": 2, "c": 3}
    batch = event_batch(events, rows)
    assert batch.unknown == [i for i, e in enumerate(events) if e.query_id == "z"]
    assert len(batch.rows) == len(events) - len(batch.unknown)
    for clicks, carts, purchases, position_sum, row in batch.updates:
        mine = [e for e in events if rows.get(e.query_id) == row]
        assert (clicks, carts, purchases) == tuple(sum(e.type == kind for e in mine) for kind in EVENT_TYPES)
        assert position_sum == sum(e.position for e in mine if e.type == "click")


# -- a known log --------------------------------------------------------------
KNOWN_SEARCHES = [
    search("s1", "shoes", "A", 10, 100, rules=["pin"]), search("s2", "shoes", "B", 10, 200),
    search("s3", "shoes", None, 0, 300, shown=()), search("s4", "bag", "A", 5, 400, rules=["pin", "boost"]),
    search("s5", "bag", None, 0, 500, shown=()), search("s6", "hat", "B", 3, 600, rules=["boost"]),
    search("s7", "red hat", None, 2, 700), search("s8", "zzz", "A", 0, 800, shown=()),
]
KNOWN_EVENTS = [
    event("click", "s1", 1), event("click", "s1", 3), event("add_to_cart", "s1", 3), event("purchase", "s1", 3),
    event("click", "nope", 1), event("click", "s2", 2, user_id="u2", timestamp=250.5), event("click", "s4", 1),
    event("purchase", "s4", 1), event("add_to_cart", "s6", 1), event("purchase", "gone", 2),
]


def rates(searches, no_result, clicked, purchased, positions):
    return {"searches": searches, "no_result_rate": no_result / searches, "no_click_rate": (searches - clicked) / searches,
            "ctr": clicked / searches, "mean_click_position": sum(positions) / len(positions) if positions else None,
            "conversion_rate": purchased / searches}


def counted(*pairs):
    return [{"query": q, "count": c} for q, c in pairs]


@pytest.fixture(params=sorted(PLANS))
def known(request, tmp_path):
    with mock.patch.object(figures, "NARROW_SHARE", PLANS[request.param]):
        store = open_store(tmp_path)
        for record in KNOWN_SEARCHES:
            store.log_search(record)
        unknown = store.add_events(KNOWN_EVENTS)
        yield store, unknown
        store.close()


def test_known_log_whole_range(known):
    store, unknown = known
    assert unknown == [4, 9]
    assert store.analytics() == {
        **rates(8, 3, 3, 2, [1, 3, 2, 1]),
        "top_queries": counted(("shoes", 3), ("bag", 2), ("hat", 1), ("red hat", 1), ("zzz", 1)),
        "no_result_queries": counted(("bag", 1), ("shoes", 1), ("zzz", 1)),
        "no_click_queries": counted(("hat", 1), ("red hat", 1)),
        "variants": {"A": rates(3, 1, 2, 2, [1, 3, 1]), "B": rates(2, 0, 1, 0, [2])},
        "rules": {"boost": rates(2, 0, 1, 1, [1]), "pin": rates(2, 0, 2, 2, [1, 3, 1])},
    }


def test_known_log_window_includes_since_and_excludes_until(known):
    store, _ = known
    assert store.analytics(since=200, until=600) == {
        **rates(4, 2, 2, 1, [2, 1]),
        "top_queries": counted(("bag", 2), ("shoes", 2)),
        "no_result_queries": counted(("bag", 1), ("shoes", 1)),
        "no_click_queries": [],
        "variants": {"A": rates(1, 0, 1, 1, [1]), "B": rates(1, 0, 1, 0, [2])},
        "rules": {"boost": rates(1, 0, 1, 1, [1]), "pin": rates(1, 0, 1, 1, [1])},
    }
    assert store.analytics(until=200)["searches"] == 1 and store.analytics(since=800)["searches"] == 1


def test_known_log_top_limits_every_list(known):
    store, _ = known
    figures_1 = store.analytics(top=1)
    assert figures_1["top_queries"] == counted(("shoes", 3))
    assert figures_1["no_result_queries"] == counted(("bag", 1))
    assert figures_1["no_click_queries"] == counted(("hat", 1))
    figures_0 = store.analytics(top=0)
    assert figures_0["searches"] == 8 and figures_0["top_queries"] == figures_0["no_click_queries"] == []
    with pytest.raises(ValueError):
        store.analytics(top=-1)


def test_an_empty_window_reports_zeros(known):
    store, _ = known
    assert store.analytics(since=10_000) == {
        "searches": 0, "no_result_rate": 0.0, "no_click_rate": 0.0, "ctr": 0.0, "mean_click_position": None,
        "conversion_rate": 0.0, "top_queries": [], "no_result_queries": [], "no_click_queries": [], "variants": {},
        "rules": {}}


def test_events_of_unknown_searches_are_not_stored(known, tmp_path):
    store, _ = known
    rows = stored(tmp_path, "SELECT s.query_id, e.type, e.item_id, e.position, e.user_id, e.timestamp "
                            "FROM events e JOIN searches s ON s.row = e.search ORDER BY e.row")
    expected = [e for e in KNOWN_EVENTS if e.query_id not in ("nope", "gone")]
    assert rows == [(e.query_id, EVENT_TYPES.index(e.type), e.item_id, e.position, e.user_id, e.timestamp) for e in expected]
    assert stored(tmp_path, "SELECT shown, user_id FROM searches WHERE query_id = 's1'") == [('["p1", "p2", "p3"]', None)]


def test_close_writes_what_is_buffered_and_a_repeated_query_id_costs_nothing_else(tmp_path):
    store = open_store(tmp_path)
    for i in range(3):
        store.log_search(search(f"q{i}", "tea", time=i))
    store.log_search(search("q1", "coffee", time=9))  # the server's bug: a query_id twice
    store.close()
    store.close()
    with pytest.raises(RuntimeError):
        store.log_search(search("late", "tea"))
    assert stored(tmp_path, "SELECT query_id, time FROM searches ORDER BY row") == [("q0", 0.0), ("q1", 1.0), ("q2", 2.0)]


# -- durability ---------------------------------------------------------------
CHILD = """
import os, signal, sys
from pathlib import Path
from shopsearch.behaviour import Event, SearchRecord, SqliteEventStore
store = SqliteEventStore(Path(sys.argv[1]), retention_days=float("inf"))
for i in range(200):
    store.log_search(SearchRecord(f"q{i}", f"query {i % 7}", None, None, ("a", "b"), 2, float(i)))
clicks = [Event("click", f"q{i}", "b", 2, "u", 1.0) for i in range(0, 200, 2)]
unknown = store.add_events(clicks + [Event("purchase", "x", "a", 1, None, 1.0)])
print("ok", unknown, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow  # kills a process (the suite's definition of slow), though it takes ~0.5 s
def test_acknowledged_events_survive_kill_9(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "behaviour.db")], capture_output=True, text=True,
                           env=env, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.split("\n")[0] == "ok [100]"
    with open_store(tmp_path) as store:
        figures_all = store.analytics()
    assert figures_all["searches"] == 200 and figures_all["ctr"] == 0.5 and figures_all["mean_click_position"] == 2.0
    assert stored(tmp_path, "SELECT COUNT(*) FROM events") == [(100,)]


# -- retention ----------------------------------------------------------------
def test_prune_removes_old_searches_their_events_and_unused_queries(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "PRUNE_CHUNK", 3)  # several chunks
    store = open_store(tmp_path)
    for i in range(10):
        store.log_search(search(f"q{i}", "old only" if i < 4 else "kept", time=i, rules=["r"] if i % 2 else ()))
    store.log_search(search("q10", "kept", time=3))  # a kept query with an old search too
    assert store.add_events([event("click", f"q{i}") for i in range(10)]) == []
    assert store.prune(before=4) == 5
    assert store.prune(before=4) == 0
    assert store.analytics()["top_queries"] == counted(("kept", 6))
    assert store.analytics()["rules"]["r"]["searches"] == 3  # q5, q7, q9: the pruned searches' rows went with them
    assert stored(tmp_path, "SELECT COUNT(*) FROM events") == [(6,)]
    assert stored(tmp_path, "SELECT COUNT(*) FROM search_rules") == [(3,)]
    assert stored(tmp_path, "SELECT text FROM queries") == [("kept",)]
    store.log_search(search("q11", "old only", time=20))  # its query's row went: the writer must not reuse the id
    assert store.analytics(since=20)["top_queries"] == counted(("old only", 1))
    store.close()


def test_a_query_pruned_by_another_store_on_the_file_is_written_anew(tmp_path):
    with open_store(tmp_path) as server:
        server.log_search(search("q1", "tea", time=1))
        server.flush()
        with open_store(tmp_path) as cli:  # the CLI, say, while the server runs
            assert cli.prune(before=2) == 1
        server.log_search(search("q2", "tea", time=5))
        assert server.analytics()["top_queries"] == counted(("tea", 1))


def test_the_store_prunes_itself_on_open(tmp_path):
    now = time.time()
    with open_store(tmp_path) as store:
        store.log_search(search("old", "a", time=now - 3 * 86400))
        store.log_search(search("new", "a", time=now - 3600))
        store.add_events([event("click", "old"), event("click", "new")])
    with open_store(tmp_path, retention_days=2) as store:
        assert store.analytics()["searches"] == 1
    assert stored(tmp_path, "SELECT query_id FROM searches") == [("new",)]
    assert stored(tmp_path, "SELECT COUNT(*) FROM events") == [(1,)]
    with pytest.raises(ValueError):
        open_store(tmp_path, retention_days=0)


def test_the_background_thread_prunes_and_checkpoints_as_it_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "PRUNE_EVERY", 0.0)  # every round of the background thread
    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 0.0)
    now = time.time()
    with open_store(tmp_path, retention_days=1) as store:
        for i in range(30):
            old = i % 3 == 0
            store.log_search(search(f"q{i}", "a", time=now - (2 * 86400 if old else 60)))
            # An old search may be pruned between the two calls; a new one is always found.
            assert store.add_events([event("click", f"q{i}")]) in ([[], [0]] if old else [[]])
            time.sleep(0.01)
        deadline = time.monotonic() + 10
        while store.analytics()["searches"] != 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.analytics()["searches"] == 20
    assert stored(tmp_path, "SELECT COUNT(*) FROM events") == [(20,)]


# -- threads ------------------------------------------------------------------
def test_threads_logging_while_another_adds_events(tmp_path):
    store = open_store(tmp_path)
    logged: queue.Queue[str] = queue.Queue()
    loggers, per_logger = 4, 300

    def log_searches(n):
        for i in range(per_logger):
            query_id = f"t{n}-{i}"
            store.log_search(search(query_id, f"query {i % 13}", variant="v" if i % 2 else None, time=i))
            logged.put(query_id)

    unknown: list[int] = []

    def add_events():
        done = 0
        while done < loggers * per_logger:
            batch = [logged.get()]
            while len(batch) < 50 and not logged.empty():
                batch.append(logged.get())
            done += len(batch)
            unknown.extend(store.add_events([event("click", q, 2) for q in batch]))
            store.analytics(top=3)  # reads alongside the writes

    threads = [threading.Thread(target=log_searches, args=(n,)) for n in range(loggers)]
    threads.append(threading.Thread(target=add_events))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    result = store.analytics()
    store.close()
    total = loggers * per_logger
    assert unknown == [] and result["searches"] == total and result["ctr"] == 1.0
    assert result["variants"]["v"]["searches"] == total // 2
    assert sum(entry["count"] for entry in result["top_queries"]) == total  # 13 queries, all listed
    assert stored(tmp_path, "SELECT COUNT(*), SUM(position) FROM events") == [(total, 2 * total)]


# -- random logs against a direct computation ---------------------------------
def reference(searches, events, since, until, top):
    chosen = [s for s in searches if (since is None or s.time >= since) and (until is None or s.time < until)]
    by_search = {s.query_id: [e for e in events if e.query_id == s.query_id] for s in chosen}

    def figures_of(group):
        n = len(group)
        clicked = [s for s in group if any(e.type == "click" for e in by_search[s.query_id])]
        positions = [e.position for s in group for e in by_search[s.query_id] if e.type == "click"]
        share = (lambda k: k / n) if n else (lambda k: 0.0)
        return {"searches": n, "no_result_rate": share(sum(s.results == 0 for s in group)),
                "no_click_rate": share(n - len(clicked)), "ctr": share(len(clicked)),
                "mean_click_position": sum(positions) / len(positions) if positions else None,
                "conversion_rate": share(sum(any(e.type == "purchase" for e in by_search[s.query_id]) for s in group))}

    def listed(group):
        counts: dict[str, int] = {}
        for s in group:
            counts[s.query] = counts.get(s.query, 0) + 1
        return counted(*sorted(counts.items(), key=lambda qc: (-qc[1], qc[0]))[:top])

    no_click = [s for s in chosen if s.results > 0 and not any(e.type == "click" for e in by_search[s.query_id])]
    variants = sorted({s.variant for s in chosen if s.variant is not None})
    return {**figures_of(chosen), "top_queries": listed(chosen),
            "no_result_queries": listed([s for s in chosen if s.results == 0]), "no_click_queries": listed(no_click),
            "variants": {v: figures_of([s for s in chosen if s.variant == v]) for v in variants},
            "rules": {r: figures_of([s for s in chosen if r in s.rules]) for r in sorted({r for s in chosen for r in s.rules})}}


logs = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d e", "é"]), st.sampled_from([None, "x", "y"]),
                          st.sampled_from([0, 1, 4]), st.integers(0, 20),
                          st.lists(st.tuples(st.sampled_from(EVENT_TYPES), st.integers(1, 5)), max_size=4),
                          st.sets(st.sampled_from(["pin", "boost"]))),
                max_size=14)
bounds = st.none() | st.integers(-1, 22)


@settings(max_examples=60, deadline=None)
@given(logs, st.integers(0, 3), bounds, bounds, st.integers(0, 4), st.sampled_from(sorted(PLANS)))
def test_analytics_equals_a_direct_computation(drawn, strays, since, until, top, plan):
    searches = [search(f"q{i}", q, variant, results, t, rules=sorted(fired)) for i, (q, variant, results, t, _, fired) in enumerate(drawn)]
    events = [event(kind, f"q{i}", position) for i, (*_, evs, _) in enumerate(drawn) for kind, position in evs]
    events += [event("click", f"stray{k}") for k in range(strays)]
    with tempfile.TemporaryDirectory() as folder, mock.patch.object(figures, "NARROW_SHARE", PLANS[plan]):
        with open_store(Path(folder)) as store:
            for record in searches:
                store.log_search(record)
            unknown = store.add_events(events)
            assert unknown == list(range(len(events) - strays, len(events)))
            assert store.analytics(since, until, top) == reference(searches, events, since, until, top)
