"""The behaviour log's storage: searches, the events on them, and analytics over any time window.

A SQLite file of its own in the data directory (WAL), apart from the catalogue's database, so that
logging never waits for a catalogue write nor the other way round. One connection writes, under
`_write_lock`; every other thread reads through a connection of its own, which in WAL mode sees
the last commit and never waits for the writer.

- `log_search` runs on the search path, so it only appends the record to an in-memory deque (under
  a microsecond, thread-safe without a lock). A background thread commits the deque every 50 ms, or
  sooner once 500 records wait, one transaction per batch. So a record is not durable when
  log_search returns: a crash loses the last ~50 ms of searches, never acknowledged events.
- `add_events` takes the write lock, commits the searches still buffered (so every search logged
  before the call is there to be found), then resolves the events' query_ids and inserts the events
  and the searches' counters in one transaction. The background thread takes a batch from the
  buffer under that same lock, so no search can be in flight, taken but not yet committed.
- `analytics` flushes the buffer too, then reads in one read transaction: one consistent snapshot.
- `close` stops the background thread and commits everything still buffered.

If writes stall (a disk that stops answering) the buffer keeps MAX_PENDING searches and then
forgets the oldest, counted in `dropped`: logging must not grow memory without bound nor block.
Retention: `prune(before)` deletes old searches with their events, in chunks so that it never
holds the write lock long; the store prunes to `retention_days` on open and then once an hour.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..sqlite import immediate_transaction
from . import schema
from .events import Event, SearchRecord, Session
from .experiments import INTERLEAVED, Experiment, Outcome, ab_outcome, credit, interleave_outcome
from .figures import assemble, buckets, check_series, event_batch, narrow_budget, series_figures, series_window, window
from .schema import TYPE_CODES, chunks, connect, create, marks, name_ids

log = logging.getLogger(__name__)


class ExperimentExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"an experiment named {name!r} exists already (names are never reused: its searches stay in the log)")

FLUSH_INTERVAL = 0.05  # seconds between the background thread's commits
FLUSH_RECORDS = 500  # ...or sooner, once this many searches wait
MAX_PENDING = 200_000
PRUNE_EVERY = 3600.0  # seconds
CHECKPOINT_EVERY = 1.0  # seconds
PRUNE_CHUNK = 5_000  # searches per prune transaction: tens of ms of write lock each
KINDS = (TYPE_CODES["click"], TYPE_CODES["purchase"])  # the events sessions() reads


class SqliteEventStore:
    """EventStore in one SQLite file (see the module docstring for threads and durability)."""

    def __init__(self, path: Path, retention_days: float = 90.0) -> None:
        if not retention_days > 0:
            raise ValueError(f"retention_days must be > 0 (math.inf keeps everything), not {retention_days!r}")
        self.path = Path(path)
        self.retention_days = float(retention_days)
        self.dropped = 0  # searches forgotten: buffer overflow, or a batch whose commit failed
        self._db = connect(self.path)
        try:
            create(self._db)  # which also leaves checkpoints to the background thread's _checkpointer
            self._checkpointer = connect(self.path)
        except BaseException:
            self._db.close()
            raise
        self._write_lock = threading.Lock()
        self._pending: deque[SearchRecord] = deque(maxlen=MAX_PENDING)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._stopping = self._flushing = False
        self._wake = threading.Event()
        self._last_prune = self._last_checkpoint = time.monotonic()
        self.prune(self._cutoff())
        self._writer = threading.Thread(target=self._run, name=f"behaviour-writer:{self.path.name}", daemon=True)
        self._writer.start()

    # -- writing --------------------------------------------------------------
    def log_search(self, record: SearchRecord) -> None:
        """Buffer a search for the background thread (see the module docstring); cheap on any thread."""
        if self._closed:
            raise RuntimeError(f"{self.path} is closed")
        pending = self._pending
        if len(pending) == MAX_PENDING:
            self.dropped += 1  # the append below pushes the oldest out; racy, so approximate
        pending.append(record)
        if len(pending) >= FLUSH_RECORDS:
            self._wake.set()

    def flush(self) -> None:
        """Commit every search buffered so far (add_events, analytics, prune and close do it themselves)."""
        self._check_open()
        if not self._pending and not self._flushing:
            return  # nothing buffered nor in flight: no need to queue behind a writer for the lock
        with self._write_lock:
            self._flush_locked()

    def add_events(self, events: Sequence[Event]) -> list[int]:
        """Store events: the indexes (in input order) of those whose query_id is no logged search, which are not stored.

        The rest are committed before this returns, with their searches' counters. WAL with
        synchronous=NORMAL: a commit survives the process being killed (kill -9) at any point after;
        only a power cut or an OS crash can take the last commits back.
        """
        self._check_open()
        if not events:
            return []
        with self._write_lock:
            self._flush_locked()
            with self._transaction():
                batch = event_batch(events, self._search_rows({event.query_id for event in events}))
                self._db.executemany(schema.INSERT_EVENT, batch.rows)
                self._db.executemany(schema.ADD_COUNTERS, batch.updates)
        return batch.unknown

    def prune(self, before: float) -> int:
        """Delete the searches with time < before, and their events: how many searches went."""
        self._check_open()
        with self._write_lock:
            self._flush_locked()
        removed = 0
        while True:
            # Lock per chunk: add_events and the log flushes get their turn between chunks.
            with self._write_lock, self._transaction():
                gone = self._db.execute(schema.PRUNE_SEARCHES, (before, PRUNE_CHUNK)).fetchall()
                self._delete_dependants([row for row, _ in gone], sorted({query for _, query in gone}))
            removed += len(gone)
            if len(gone) < PRUNE_CHUNK:
                break
        self._last_prune = time.monotonic()
        return removed

    def _delete_dependants(self, rows: Sequence[int], queries: Sequence[int]) -> None:
        for chunk in chunks(rows):
            self._db.execute(f"DELETE FROM events WHERE search IN ({marks(len(chunk))})", chunk)
            self._db.execute(f"DELETE FROM search_rules WHERE search IN ({marks(len(chunk))})", chunk)
        # Only queries whose last search just went can have become unused.
        for chunk in chunks(queries):
            self._db.execute(
                f"DELETE FROM queries WHERE id IN ({marks(len(chunk))}) "
                "AND NOT EXISTS (SELECT 1 FROM searches WHERE searches.query = queries.id)", chunk)

    def add_experiment(self, experiment: Experiment) -> None:
        """Record a new experiment; ExperimentExists when its name is taken (running or stopped)."""
        self._check_open()
        try:
            with self._write_lock, self._transaction():
                self._db.execute("INSERT INTO experiments (name, method, variants, started, stopped) VALUES (?, ?, ?, ?, ?)",
                                 (experiment.name, experiment.method, json.dumps(dict(experiment.variants)),
                                  experiment.started, experiment.stopped))
        except sqlite3.IntegrityError:
            raise ExperimentExists(experiment.name) from None

    def stop_experiment(self, name: str, when: float) -> Experiment | None:
        """Mark a running experiment stopped at `when`: the experiment as it now is, None if there is no such name."""
        self._check_open()
        with self._write_lock, self._transaction():
            self._db.execute("UPDATE experiments SET stopped = ? WHERE name = ? AND stopped IS NULL", (when, name))
        return next((e for e in self.experiments() if e.name == name), None)

    def _flush_locked(self) -> None:
        pending = self._pending
        if not pending:
            return
        batch: list[SearchRecord] = []
        self._flushing = True  # before the first record leaves the buffer: see flush()
        try:
            while True:
                batch.append(pending.popleft())
        except IndexError:
            pass
        try:
            with self._transaction():
                queries = name_ids(self._db, "queries", "text", list({r.query for r in batch}))
                variants = name_ids(self._db, "variants", "name", list({r.variant for r in batch if r.variant is not None}))
                rows = [(r.query_id, r.time, queries[r.query], None if r.variant is None else variants[r.variant],
                         r.user_id, json.dumps(list(r.shown), ensure_ascii=False), r.results, r.teams) for r in batch]
                # OR IGNORE: a repeated query_id (a caller's bug) must not cost the whole batch.
                self._db.executemany(schema.INSERT_SEARCH, rows)
                fired = [r for r in batch if r.rules]
                if fired:
                    names = name_ids(self._db, "rule_names", "name", list({rule for r in fired for rule in r.rules}))
                    searches = self._search_rows(r.query_id for r in fired)
                    self._db.executemany(schema.INSERT_SEARCH_RULE, [(names[rule], searches[r.query_id])
                                                                     for r in fired if r.query_id in searches for rule in r.rules])
        except BaseException:
            self.dropped += len(batch)
            raise
        finally:
            self._flushing = False

    def _search_rows(self, query_ids: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in chunks(list(query_ids)):
            found.update(self._db.execute(
                f"SELECT query_id, row FROM searches WHERE query_id IN ({marks(len(chunk))})", chunk))
        return found

    def _transaction(self) -> AbstractContextManager[None]:
        return immediate_transaction(self._db)

    def _cutoff(self) -> float:
        return time.time() - self.retention_days * 86400.0  # -inf for math.inf days: nothing goes

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            if self._stopping:
                break  # close() writes the rest after joining this thread
            try:
                with self._write_lock:
                    self._flush_locked()
                if time.monotonic() - self._last_prune >= PRUNE_EVERY:
                    self.prune(self._cutoff())
                if time.monotonic() - self._last_checkpoint >= CHECKPOINT_EVERY:
                    self._checkpoint()
            except Exception:
                log.exception("behaviour log %s: a background write failed", self.path)

    def _checkpoint(self) -> None:
        # The first pass copies the bulk while commits carry on. Under steady writes it can never
        # finish, and the WAL restarts from its beginning only after a checkpoint that did (it grew
        # to 8 GB in a minute of random events without this): so a second pass under the write lock
        # copies what was committed meanwhile, a fraction of the first.
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        with self._write_lock:
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._last_checkpoint = time.monotonic()

    # -- reading --------------------------------------------------------------
    def analytics(self, since: float | None = None, until: float | None = None, top: int = 20) -> dict[str, Any]:
        """Figures over the searches with since <= time < until (None: unbounded).

        Rates are shares of those searches (0.0 when there are none): no_result_rate (results == 0),
        no_click_rate (no click event), ctr (at least one click: 1 - no_click_rate), conversion_rate
        (at least one purchase); mean_click_position is the mean position over their click events
        (None without clicks). top_queries, no_result_queries (results == 0) and no_click_queries
        (results > 0, no click) list at most `top` {"query", "count"}, count descending then query
        ascending. `variants` has the same six figures per experiment variant, by name, and `rules` per
        merchandising rule over the searches it fired on.
        """
        if top < 0:
            raise ValueError(f"top must be >= 0, not {top}")
        self.flush()
        lo, hi = window(since, until)
        params = {"since": lo, "until": hi, "top": top}
        db = self._read
        db.execute("BEGIN")  # one snapshot for every statement below
        try:
            budget = narrow_budget(*db.execute(schema.ROW_SPAN).fetchone())
            wide = db.execute(schema.WINDOW_ROWS, {**params, "limit": budget + 1}).fetchone()[0] > budget
            by_variant, by_query = (schema.BY_VARIANT, schema.BY_QUERY) if wide else (schema.BY_TIME, schema.BY_TIME)
            variant_rows = db.execute(schema.VARIANT_FIGURES.format(index=by_variant), params).fetchall()
            list_rows = db.execute(schema.QUERY_LISTS.format(index=by_query), params).fetchall() if top else []
            rule_rows = db.execute(schema.RULE_FIGURES, params).fetchall()
        finally:
            db.execute("COMMIT")
        return assemble(variant_rows, list_rows, top, rule_rows)

    def series(self, since: float | None = None, until: float | None = None,
               interval: float | None = None) -> dict[str, Any]:
        """The analytics rates over time: the searches with since <= time < until in buckets of `interval` s.

        Buckets lie on a grid of multiples of interval from the unix epoch, so that two calls agree; the
        first and last cover only their part inside the window. A bound left None is the log's oldest or
        newest search's bucket edge; interval None picks whole minutes, hours or days giving at most 100
        buckets. Answers {"interval", "since", "until", "buckets": [{"start", "searches", and the five
        rates of analytics}]}, every bucket listed, empty ones too; an open end is None when the log is
        empty. ValueError for a bad argument, figures.TooManyBuckets beyond figures.MAX_BUCKETS.
        """
        check_series(since, until, interval)
        self.flush()
        db = self._read
        db.execute("BEGIN")  # one snapshot: the span and every bucket
        try:
            first, last = db.execute(schema.TIME_SPAN).fetchone() if since is None or until is None else (None, None)
            lo, hi, step = series_window(since, until, first, last, interval)
            spans = buckets(lo, hi, step) if lo is not None and hi is not None else []
            rows = [db.execute(schema.SERIES_BUCKET, (span.lo, span.hi)).fetchone() for span in spans]
        finally:
            db.execute("COMMIT")
        return {"interval": step, "since": lo, "until": hi, "buckets": series_figures(spans, rows)}

    def popular_queries(self, since: float | None = None, until: float | None = None, min_searches: int = 2,
                        min_clicked: int = 1, limit: int = 5000) -> list[tuple[str, int, int]]:
        """(query, searches, clicked): the queries searched with results at least min_searches times with
        since <= time < until, at least min_clicked of those searches with a click; the `limit` with the
        most clicked searches (then searches, then text)."""
        for name, value in (("min_searches", min_searches), ("min_clicked", min_clicked), ("limit", limit)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, not {value}")
        self.flush()
        lo, hi = window(since, until)
        params = {"since": lo, "until": hi, "min_searches": min_searches, "min_clicked": min_clicked, "limit": limit}
        return [(text, n, c) for text, n, c in self._read.execute(schema.POPULAR_QUERIES, params).fetchall()]

    def sessions(self, since: float | None = None, until: float | None = None) -> Iterator[Session]:
        """The searches with results and since <= time < until, in time order, with clicked and purchased positions:
        one snapshot, read when called (a generator holding the read transaction while its caller works would pin the WAL)."""
        self.flush()
        window_sql, params = "s.time >= ? AND s.time < ? AND s.results > 0", window(since, until)
        db = self._read
        db.execute("BEGIN")
        try:
            searches = db.execute("SELECT s.row, q.text, s.shown FROM searches s JOIN queries q ON q.id = s.query "
                                  f"WHERE {window_sql} ORDER BY s.time, s.row", params).fetchall()
            events = db.execute("SELECT e.search, e.type, e.position FROM events e JOIN searches s ON s.row = e.search "
                                f"WHERE {window_sql} AND e.type IN (?, ?)", (*params, *KINDS)).fetchall()
        finally:
            db.execute("COMMIT")
        marked: dict[tuple[int, int], set[int]] = {}
        for row, kind, position in events:
            marked.setdefault((row, kind), set()).add(position)
        shown = [(row, text, tuple(json.loads(ids))) for row, text, ids in searches]
        # A position beyond the list names no item: a client's bug, not evidence.
        return iter([Session(text, ids, *(frozenset(p for p in marked.get((row, k), ()) if p <= len(ids)) for k in KINDS))
                     for row, text, ids in shown])

    def experiments(self) -> list[Experiment]:
        """Every experiment recorded, oldest first."""
        rows = self._read.execute("SELECT name, method, variants, started, stopped FROM experiments ORDER BY started, name")
        return [Experiment(name, method, json.loads(variants), started, stopped)
                for name, method, variants, started, stopped in rows.fetchall()]

    def experiment_outcome(self, experiment: Experiment) -> Outcome:
        """Wins, ties and the test's p-value from the experiment's logged searches and their clicks."""
        self.flush()
        db = self._read
        db.execute("BEGIN")
        try:
            if experiment.method == "ab":
                names = {experiment.log_variant(v): v for v in experiment.names}
                ids = dict(db.execute(f"SELECT id, name FROM variants WHERE name IN ({marks(2)})", list(names)).fetchall())
                counts = db.execute(schema.EXPERIMENT_COUNTS.format(marks=marks(len(ids))), list(ids)).fetchall() \
                    if ids else []
                searches = {names[ids[variant]]: n for variant, n, _ in counts}
                clicked = {names[ids[variant]]: c for variant, _, c in counts}
                return ab_outcome(experiment, searches, clicked)
            found = db.execute("SELECT id FROM variants WHERE name = ?", (experiment.log_variant(INTERLEAVED),)).fetchone()
            if found is None:
                return interleave_outcome(experiment, 0, [])
            sessions = db.execute(schema.EXPERIMENT_COUNTS.format(marks="?"), found).fetchone()[1]
            rows = db.execute(schema.INTERLEAVED_CLICKS, (found[0], TYPE_CODES["click"])).fetchall()
        finally:
            db.execute("COMMIT")
        return interleave_outcome(experiment, sessions, [credit([int(t) for t in teams or ""], map(int, positions.split(",")))
                                                         for teams, positions in rows])

    @property
    def _read(self) -> sqlite3.Connection:
        """This thread's read connection (opened on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            self._check_open()
            db = self._local.db = connect(self.path, read_only=True)
            with self._readers_lock:
                self._readers.append(db)
        return db

    # -- life cycle -----------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.path} is closed")

    def close(self) -> None:
        """Stop the background thread, commit every buffered search, close the connections. Idempotent."""
        if self._closed:
            return
        self._stopping = True
        self._wake.set()
        self._writer.join()
        try:
            with self._write_lock:
                self._flush_locked()
        finally:
            self._closed = True
            with self._readers_lock:
                readers, self._readers = self._readers, []
            for db in readers:
                db.close()
            self._checkpointer.close()
            self._db.close()  # the last connection: SQLite checkpoints the whole WAL and removes it

    def __enter__(self) -> SqliteEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
