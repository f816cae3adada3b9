"""The behaviour database's layout, and the SQL that analytics runs over it.

One row per search, carrying its own event counters (`clicks`, `carts`, `purchases`,
`click_position_sum`) that `add_events` bumps in the same transaction as it inserts the events.
So analytics never joins 10 million events: every figure is an aggregate over searches rows in
the time window, and each statement reads one covering index and never the table:

- `searches_by_time` (time, ...every column analytics reads): narrow windows (under 5% of the
  searches stored, counted through this index up to that budget), where a range scan plus a small
  sort for GROUP BY is cheapest; also what `prune` walks, and `series`, one range per time bucket.
- `searches_by_variant` (variant, time, ...): wide windows' totals and per-variant figures in one
  ordered walk, GROUP BY variant needing no sort (the NULL group is searches outside experiments).
- `searches_by_query` (query, time, results, clicks): wide windows' query lists, an ordered walk
  that GROUP BY query needs no sort for; also the popular queries that suggestions offer. Sorting
  2 million rows for a GROUP BY costs about six times the walk, which is why the wide windows do not
  use the time index.

A query's text is stored once in `queries` and searches refer to it by integer, so the index
entries stay ~30 bytes and the grouping compares integers. Variant names likewise. Event types
are stored as their index in EVENT_TYPES.

The price is on the write side: a click rewrites its search's entry in all three indexes, which
add_events can afford (>13,000 random events/s measured) and analytics could not do without.

Aggregates use `COUNT(*) FILTER (WHERE ...)` rather than `SUM(condition)`: SQLite then skips the
aggregate step for rows that do not match, which measured about 30% faster on the full scan.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterator, Sequence, TypeVar

from .events import EVENT_TYPES

SCHEMA_VERSION = 3  # 2: searches.teams and the experiments table; 3: the rules each search fired

TYPE_CODES = {name: code for code, name in enumerate(EVENT_TYPES)}

TABLES = """
CREATE TABLE IF NOT EXISTS queries (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS variants (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS searches (
    row INTEGER PRIMARY KEY,
    query_id TEXT NOT NULL UNIQUE,
    time REAL NOT NULL,
    query INTEGER NOT NULL,            -- queries.id
    variant INTEGER,                   -- variants.id; NULL outside experiments
    user_id TEXT,
    shown TEXT NOT NULL,               -- JSON array of item ids, position = index + 1
    results INTEGER NOT NULL,
    teams TEXT,                        -- interleaving: the team ('0' or '1') of each position shown
    clicks INTEGER NOT NULL DEFAULT 0,
    carts INTEGER NOT NULL DEFAULT 0,
    purchases INTEGER NOT NULL DEFAULT 0,
    click_position_sum INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    row INTEGER PRIMARY KEY,
    search INTEGER NOT NULL,           -- searches.row
    type INTEGER NOT NULL,             -- index in EVENT_TYPES
    item_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    user_id TEXT,
    timestamp REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS search_rules (   -- the merchandising rules a search fired
    rule INTEGER NOT NULL,             -- rule_names.id
    search INTEGER NOT NULL,           -- searches.row
    PRIMARY KEY (rule, search)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    variants TEXT NOT NULL,            -- JSON object: variant name -> search parameters, in order
    started REAL NOT NULL,
    stopped REAL
);
"""

# Separate from TABLES so that a bulk load (the benchmark's generator) can build them once at the end.
INDEXES = """
CREATE INDEX IF NOT EXISTS searches_by_time
    ON searches (time, query, variant, results, clicks, purchases, click_position_sum);
CREATE INDEX IF NOT EXISTS searches_by_variant
    ON searches (variant, time, results, clicks, purchases, click_position_sum);
CREATE INDEX IF NOT EXISTS searches_by_query ON searches (query, time, results, clicks);
CREATE INDEX IF NOT EXISTS events_by_search ON events (search);
CREATE INDEX IF NOT EXISTS search_rules_by_search ON search_rules (search);
"""

BY_TIME, BY_VARIANT, BY_QUERY = "searches_by_time", "searches_by_variant", "searches_by_query"

# Per variant id (NULL: no experiment): searches, no-result, clicked, purchased, clicks, click positions.
# Only the index named differs between narrow and wide windows; `{index}` is one of the names above.
VARIANT_FIGURES = """
SELECT variants.name, s.* FROM (
    SELECT variant, COUNT(*), COUNT(*) FILTER (WHERE results = 0), COUNT(*) FILTER (WHERE clicks > 0),
        COUNT(*) FILTER (WHERE purchases > 0), SUM(clicks) FILTER (WHERE clicks > 0),
        SUM(click_position_sum) FILTER (WHERE clicks > 0)
    FROM searches INDEXED BY {index} WHERE time >= :since AND time < :until GROUP BY variant
) AS s LEFT JOIN variants ON variants.id = s.variant
"""

# Per rule fired in the window: the same six aggregates over the searches it fired on. Only searches
# that fired a rule have search_rules rows, so this reads them, not the window.
RULE_FIGURES = """
SELECT rule_names.name, s.* FROM (
    SELECT r.rule, COUNT(*), COUNT(*) FILTER (WHERE results = 0), COUNT(*) FILTER (WHERE clicks > 0),
        COUNT(*) FILTER (WHERE purchases > 0), SUM(clicks) FILTER (WHERE clicks > 0),
        SUM(click_position_sum) FILTER (WHERE clicks > 0)
    FROM search_rules r JOIN searches ON searches.row = r.search
    WHERE searches.time >= :since AND searches.time < :until GROUP BY r.rule
) AS s JOIN rule_names ON rule_names.id = s.rule
"""

# The candidates for the three query lists, (list, text, count) with list 0 = top, 1 = no result,
# 2 = no click. Each list keeps the groups whose count reaches the top-th largest, ties included, so
# only those are joined to their text; the caller orders them by (count desc, text) and cuts at top.
QUERY_LISTS = """
WITH g AS MATERIALIZED (
    SELECT query, COUNT(*) AS n, COUNT(*) FILTER (WHERE results = 0) AS nr,
        COUNT(*) FILTER (WHERE results > 0 AND clicks = 0) AS nc
    FROM searches INDEXED BY {index} WHERE time >= :since AND time < :until GROUP BY query
), picked AS (
    SELECT 0 AS list, query, n AS c FROM g
        WHERE n >= COALESCE((SELECT n FROM g ORDER BY n DESC LIMIT 1 OFFSET :top - 1), 1)
    UNION ALL SELECT 1, query, nr FROM g
        WHERE nr > 0 AND nr >= COALESCE((SELECT nr FROM g ORDER BY nr DESC LIMIT 1 OFFSET :top - 1), 1)
    UNION ALL SELECT 2, query, nc FROM g
        WHERE nc > 0 AND nc >= COALESCE((SELECT nc FROM g ORDER BY nc DESC LIMIT 1 OFFSET :top - 1), 1)
)
SELECT list, queries.text, c FROM picked JOIN queries ON queries.id = picked.query
"""

# The writer's statements.
INSERT_SEARCH = ("INSERT OR IGNORE INTO searches (query_id, time, query, variant, user_id, shown, results, teams) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_SEARCH_RULE = "INSERT OR IGNORE INTO search_rules (rule, search) VALUES (?, ?)"
INSERT_EVENT = "INSERT INTO events (search, type, item_id, position, user_id, timestamp) VALUES (?, ?, ?, ?, ?, ?)"
ADD_COUNTERS = ("UPDATE searches SET clicks = clicks + ?, carts = carts + ?, purchases = purchases + ?, "
                "click_position_sum = click_position_sum + ? WHERE row = ?")
PRUNE_SEARCHES = (f"DELETE FROM searches WHERE row IN (SELECT row FROM searches INDEXED BY {BY_TIME} WHERE time < ? LIMIT ?) "
                  "RETURNING row, query")

# An experiment's searches: per variant id, searches and searches with a click (A/B).
EXPERIMENT_COUNTS = "SELECT variant, COUNT(*), COUNT(*) FILTER (WHERE clicks > 0) FROM searches INDEXED BY " \
    f"{BY_VARIANT} WHERE variant IN ({{marks}}) GROUP BY variant"
# An interleaved search with clicks: its teams and its clicked positions.
INTERLEAVED_CLICKS = ("SELECT s.teams, group_concat(e.position) FROM searches s JOIN events e ON e.search = s.row "
                      "WHERE s.variant = ? AND s.clicks > 0 AND e.type = ? GROUP BY s.row")

ROW_SPAN = "SELECT (SELECT MIN(row) FROM searches), (SELECT MAX(row) FROM searches)"

# The window's searches, counted no further than :limit (the narrow plan's budget).
WINDOW_ROWS = f"""
SELECT COUNT(*) FROM (SELECT 1 FROM searches INDEXED BY {BY_TIME} WHERE time >= :since AND time < :until LIMIT :limit)
"""

# series: the oldest and newest search's times (two index lookups), and one bucket's six aggregates (as in
# VARIANT_FIGURES, every variant together). One range scan per bucket (figures.buckets gives the bounds):
# a GROUP BY over a computed bucket number sorts every row of the window in a temporary B-tree, which
# measured 2.5 times slower over 2 million searches than 100 or 1000 range scans.
TIME_SPAN = (f"SELECT (SELECT MIN(time) FROM searches INDEXED BY {BY_TIME}), "
             f"(SELECT MAX(time) FROM searches INDEXED BY {BY_TIME})")
SERIES_BUCKET = f"""
SELECT COUNT(*), COUNT(*) FILTER (WHERE results = 0), COUNT(*) FILTER (WHERE clicks > 0),
    COUNT(*) FILTER (WHERE purchases > 0), SUM(clicks) FILTER (WHERE clicks > 0),
    SUM(click_position_sum) FILTER (WHERE clicks > 0)
FROM searches INDEXED BY {BY_TIME} WHERE time >= ? AND time < ?
"""

# Popular queries (suggestions): per query, searches with results and those with a click, kept when both
# reach their minimum; the `limit` best by clicked searches are joined to their text. An ordered walk of
# the query index (GROUP BY needs no sort): for a month of a 2-month log of 2 million searches, about
# five times faster than the time index's range plus the sort of its rows by query.
POPULAR_QUERIES = f"""
SELECT queries.text, g.n, g.c FROM (
    SELECT query, COUNT(*) AS n, COUNT(*) FILTER (WHERE clicks > 0) AS c
    FROM searches INDEXED BY {BY_QUERY} WHERE time >= :since AND time < :until AND results > 0
    GROUP BY query HAVING n >= :min_searches AND c >= :min_clicked
    ORDER BY c DESC, n DESC, query LIMIT :limit
) AS g JOIN queries ON queries.id = g.query ORDER BY g.c DESC, g.n DESC, queries.text
"""

T = TypeVar("T")

IN_CHUNK = 500  # SQL parameters per IN (...): old SQLite builds allow 999 in all


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def marks(n: int) -> str:
    return ",".join("?" * n)


def name_ids(db: sqlite3.Connection, table: str, column: str, names: Sequence[str]) -> dict[str, int]:
    """name -> id in `table` (queries or variants), inserting the names it lacks.

    Asked of the database every time, inside the caller's write transaction, rather than cached:
    another store on the same file (the CLI's, say) may prune a query row and a cached id would
    then point at nothing. It costs the background writer ~1 ms per 500 searches.
    """
    db.executemany(f"INSERT OR IGNORE INTO {table} ({column}) VALUES (?)", [(name,) for name in names])
    found: dict[str, int] = {}
    for chunk in chunks(names):
        found.update(db.execute(f"SELECT {column}, id FROM {table} WHERE {column} IN ({marks(len(chunk))})", chunk))
    return found


def connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), shareable across threads under a lock."""
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 10000")
    # Analytics walks whole indexes: mapped pages skip a read() per page, and sorts and the
    # materialised per-query groups stay in memory rather than in a temporary file.
    db.execute("PRAGMA mmap_size = 1073741824")
    db.execute("PRAGMA temp_store = MEMORY")
    # A WAL file is reused rather than shrunk after a checkpoint; this caps what it keeps on disk.
    db.execute("PRAGMA journal_size_limit = 67108864")
    return db


def create(db: sqlite3.Connection) -> None:
    """Set up the writer's connection, and the schema when the file is new."""
    # WAL: readers (analytics) never block the writer nor wait for it; synchronous=NORMAL makes a
    # commit durable against a killed process (the OS has the WAL pages) though not a power cut.
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    # The writer updates counters of searches anywhere in the table; a larger cache than SQLite's
    # 2 MB keeps the upper index levels it walks in memory.
    db.execute("PRAGMA cache_size = -65536")
    # Checkpoints (copying the WAL into the database file, with its fsyncs) run on the store's
    # background thread, not inside whichever commit crosses the WAL's size: add_events then only
    # appends its pages to the WAL, twice the events/s on a 2M-search store.
    db.execute("PRAGMA wal_autocheckpoint = 0")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"behaviour database has schema version {version}; this shopsearch knows {SCHEMA_VERSION}")
    if version == 1:  # before experiments
        db.execute("ALTER TABLE searches ADD COLUMN teams TEXT")
    db.executescript(TABLES + INDEXES)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
