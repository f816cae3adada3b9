"""The catalogue store: SQLite, the source of truth of a data directory.

Every write is one SQLite transaction stamped with a new sequence number.
The keyword and vector indexes are derived from it: each records the last
sequence it applied, and on open replays whatever came after. A batch is
"committed" when its transaction commits; from then on it survives a
`kill -9` and becomes searchable at the latest on the next open.

Reads run concurrently: each thread reads through a connection of its own, which in WAL
mode sees the last committed state; the writer's transaction never shows half-done. Writes
go through one connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..sqlite import immediate_transaction
from .items import Item

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    doc TEXT,
    vector BLOB
);
CREATE INDEX IF NOT EXISTS items_by_seq ON items (seq);
CREATE TABLE IF NOT EXISTS chunks (
    chunk INTEGER PRIMARY KEY,
    row INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    heading TEXT,
    text TEXT,
    vector BLOB
);
CREATE INDEX IF NOT EXISTS chunks_by_row ON chunks (row);
CREATE INDEX IF NOT EXISTS chunks_by_seq ON chunks (seq);
"""

# (heading, text, vector) of one chunk of a long description
ChunkRecord = tuple[str, str, np.ndarray]
ChunkChange = tuple[int, int, bool, np.ndarray | None]  # (chunk, row, retired, vector), as chunk_changes_since gives them
BeforeCommit = Callable[[int, list[int], list[ChunkChange]], None]


class CatalogueStore:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self._read_uri = f"file:{self.path}?mode=ro"
        self._db = self._connect(self._read_uri if read_only else f"file:{self.path}")
        if not read_only:
            # WAL: readers (threads here, other processes) keep working while we write, and a
            # killed writer leaves at most an uncommitted tail that SQLite drops.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    @staticmethod
    def _connect(uri: str) -> sqlite3.Connection:
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 10000")
        return db

    @property
    def _read(self) -> sqlite3.Connection:
        """This thread's read connection (opened on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise RuntimeError(f"{self.path} is closed")
            db = self._local.db = self._connect(self._read_uri)
            with self._readers_lock:
                self._readers.append(db)
        return db

    def close(self) -> None:
        self._closed = True
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for db in readers:
            db.close()
        self._db.close()

    # -- metadata -------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._read.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- writes ---------------------------------------------------------------
    def last_seq(self) -> int:
        """The last committed write sequence."""
        return self._read.execute("SELECT COALESCE(MAX(seq), 0) FROM items").fetchone()[0]

    def _next_seq(self) -> int:
        # Inside the write transaction, on the writer's connection.
        return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM items").fetchone()[0] + 1

    def upsert(self, items: Sequence[Item], vectors: np.ndarray,
               chunks: Sequence[Sequence[ChunkRecord]] | None = None,
               before_commit: BeforeCommit | None = None) -> tuple[int, list[int]]:
        """Store items, their vectors and their description chunks in one transaction: (seq, rows).

        An id keeps its row across updates and deletes, so every index can
        address an item by the same small integer for its whole life. An
        item's previous chunks become tombstones at the same seq.
        before_commit(seq, rows, chunk_batch) runs inside the transaction, which it rolls back by raising.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._transaction():
            seq = self._next_seq()
            rows = []
            for i, (item, vector) in enumerate(zip(items, vectors)):
                cursor = self._db.execute(
                    "INSERT INTO items (id, seq, deleted, doc, vector) VALUES (?, ?, 0, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, deleted = 0, "
                    "doc = excluded.doc, vector = excluded.vector RETURNING row",
                    (item.id, seq, json.dumps(item.to_record(), ensure_ascii=False), vector.tobytes()),
                )
                row = cursor.fetchone()[0]
                rows.append(row)
                self._retire_chunks(row, seq)
                for heading, text, chunk_vector in (chunks[i] if chunks else ()):
                    self._db.execute(
                        "INSERT INTO chunks (row, seq, heading, text, vector) VALUES (?, ?, ?, ?, ?)",
                        (row, seq, heading, text, np.asarray(chunk_vector, dtype=np.float32).tobytes()),
                    )
            if before_commit is not None:
                before_commit(seq, rows, self._chunk_batch(seq))
        return seq, rows

    def _retire_chunks(self, row: int, seq: int) -> None:
        self._db.execute("UPDATE chunks SET deleted = 1, seq = ?, vector = NULL WHERE row = ? AND deleted = 0", (seq, row))

    def delete(self, ids: Iterable[str], before_commit: BeforeCommit | None = None) -> tuple[int, list[int]]:
        """Mark items deleted (kept as tombstones so derived indexes can replay): (seq, rows).
        before_commit: as for upsert."""
        with self._transaction():
            seq = self._next_seq()
            rows = []
            for item_id in dict.fromkeys(ids):
                cursor = self._db.execute(
                    "UPDATE items SET deleted = 1, seq = ?, doc = NULL, vector = NULL "
                    "WHERE id = ? AND deleted = 0 RETURNING row",
                    (seq, item_id),
                )
                found = cursor.fetchone()
                if found:
                    rows.append(found[0])
                    self._retire_chunks(found[0], seq)
            if before_commit is not None and rows:
                before_commit(seq, rows, self._chunk_batch(seq))
        return seq, rows

    def _chunk_batch(self, seq: int) -> list[ChunkChange]:
        """The chunk changes of the batch being written as `seq` (on the writer's connection, uncommitted)."""
        found = self._db.execute("SELECT chunk, row, deleted, vector FROM chunks WHERE seq = ? ORDER BY chunk", (seq,))
        return [(c, r, bool(d), np.frombuffer(v, dtype=np.float32) if v else None) for c, r, d, v in found]

    def _select_in(self, query: str, values: Sequence[int | str]) -> Iterator[tuple]:
        """Rows of `query` (whose one "{marks}" is the IN list) for all values, a part at a time, under
        SQLite's bound-parameter limit."""
        for start in range(0, len(values), 900):
            part = list(values[start:start + 900])
            yield from self._read.execute(query.format(marks=",".join("?" * len(part))), part)

    def current(self, rows: Sequence[int]) -> list[tuple[int, dict | None, np.ndarray | None]]:
        """(row, record, vector) of each given row as committed now; record and vector None for a row
        deleted or never committed."""
        found = {row: (json.loads(doc), np.frombuffer(vector, dtype=np.float32)) for row, doc, vector in
                 self._select_in("SELECT row, doc, vector FROM items WHERE deleted = 0 AND row IN ({marks})", [int(r) for r in rows])
                 if doc and vector}
        return [(int(r), *found.get(int(r), (None, None))) for r in rows]

    def chunk_records(self, rows: Sequence[int]) -> dict[int, list[ChunkRecord]]:
        """row -> its live chunks (heading, text, vector), in order."""
        found: dict[int, list[ChunkRecord]] = {}
        query = "SELECT row, heading, text, vector FROM chunks WHERE deleted = 0 AND row IN ({marks}) ORDER BY chunk"
        for row, heading, text, vector in self._select_in(query, [int(r) for r in rows]):
            found.setdefault(row, []).append((heading, text, np.frombuffer(vector, dtype=np.float32)))
        return found

    def current_chunks(self, chunks: Sequence[int]) -> list[ChunkChange]:
        """(chunk, row, retired, vector) of each given chunk as committed now (retired for one never committed)."""
        found = {chunk: (row, np.frombuffer(vector, dtype=np.float32)) for chunk, row, vector in
                 self._select_in("SELECT chunk, row, vector FROM chunks WHERE deleted = 0 AND chunk IN ({marks})",
                                 [int(c) for c in chunks])}
        return [(int(c), found[c][0], False, found[c][1]) if c in found else (int(c), -1, True, None) for c in chunks]

    def chunk_changes_since(self, seq: int) -> Iterator[tuple[int, list]]:
        """(seq, [(chunk, row, deleted, vector | None), ...]) per committed batch after seq."""
        cursor = self._read.execute(
            "SELECT seq, chunk, row, deleted, vector FROM chunks WHERE seq > ? ORDER BY seq, chunk", (seq,))
        batch_seq, batch = None, []
        for s, chunk, row, deleted, vector in cursor:
            if batch_seq is not None and s != batch_seq:
                yield batch_seq, batch
                batch = []
            batch_seq = s
            batch.append((chunk, row, bool(deleted), np.frombuffer(vector, dtype=np.float32) if vector else None))
        if batch:
            assert batch_seq is not None  # set with the batch's first row
            yield batch_seq, batch

    def chunk_rows(self) -> list[tuple[int, int]]:
        """(chunk, row) of every live chunk."""
        return self._read.execute("SELECT chunk, row FROM chunks WHERE deleted = 0").fetchall()

    def chunk_texts(self, chunks: Sequence[int]) -> dict[int, tuple[str, str]]:
        if not chunks:
            return {}
        marks = ",".join("?" * len(chunks))
        query = f"SELECT chunk, heading, text FROM chunks WHERE deleted = 0 AND chunk IN ({marks})"
        return {c: (h or "", t or "") for c, h, t in self._read.execute(query, [int(c) for c in chunks])}

    # -- a model migration's reads and its swap (index/migration.py) -------------
    def live_chunks(self, rows: Sequence[int]) -> list[tuple[int, int, str, str]]:
        """(chunk, row, heading, text) of the given rows' live chunks."""
        query = "SELECT chunk, row, heading, text FROM chunks WHERE deleted = 0 AND row IN ({marks}) ORDER BY chunk"
        return [(c, r, h or "", t or "") for c, r, h, t in self._select_in(query, [int(r) for r in rows])]

    def live_vectors(self, table: str = "items") -> Iterator[tuple[int, int, bytes]]:
        """(key, row, vector bytes) of every live item (key = row) or, with table="chunks", every live chunk."""
        key = "row" if table == "items" else "chunk"
        assert table in ("items", "chunks")
        yield from self._read.execute(f"SELECT {key}, row, vector FROM {table} WHERE deleted = 0 ORDER BY {key}")

    def replace_vectors(self, items: Iterable[tuple[int, bytes]], chunks: Iterable[tuple[int, bytes]],
                        meta: Mapping[str, str]) -> None:
        """Set the vectors of live items and chunks by key, and meta keys, in one transaction (no new sequence:
        the records do not change, only the model's vectors of them)."""
        with self._transaction():
            self._db.executemany("UPDATE items SET vector = ? WHERE row = ? AND deleted = 0",
                                 ((vector, row) for row, vector in items))
            self._db.executemany("UPDATE chunks SET vector = ? WHERE chunk = ? AND deleted = 0",
                                 ((vector, chunk) for chunk, vector in chunks))
            self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))

    def _transaction(self) -> AbstractContextManager[None]:
        return immediate_transaction(self._db)

    # -- reads ----------------------------------------------------------------
    def count(self) -> int:
        return self._read.execute("SELECT COUNT(*) FROM items WHERE deleted = 0").fetchone()[0]

    def max_row(self) -> int:
        return self._read.execute("SELECT COALESCE(MAX(row), 0) FROM items").fetchone()[0]

    def changes_since(self, seq: int, chunk: int = 2000) -> Iterator[tuple[int, list]]:
        """(seq, [(row, deleted, record | None, vector | None), ...]) per committed batch after seq."""
        cursor = self._read.execute(
            "SELECT seq, row, deleted, doc, vector FROM items WHERE seq > ? ORDER BY seq, row", (seq,)
        )
        batch_seq, batch = None, []
        while rows := cursor.fetchmany(chunk):
            for s, row, deleted, doc, vector in rows:
                if batch_seq is not None and s != batch_seq:
                    yield batch_seq, batch
                    batch = []
                batch_seq = s
                batch.append(
                    (row, bool(deleted), json.loads(doc) if doc else None,
                     np.frombuffer(vector, dtype=np.float32) if vector else None)
                )
        if batch:
            assert batch_seq is not None  # set with the batch's first row
            yield batch_seq, batch

    def live_records(self, chunk: int = 2000) -> Iterator[tuple[int, int, dict | None]]:
        """(seq, row, record or None when deleted) of every row, read as one snapshot (one statement):
        the highest seq seen says which writes it holds."""
        cursor = self._read.execute("SELECT seq, row, deleted, doc FROM items")
        while rows := cursor.fetchmany(chunk):
            for seq, row, deleted, doc in rows:
                yield seq, row, None if deleted or not doc else json.loads(doc)

    def records(self, rows: Sequence[int]) -> dict[int, dict]:
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        query = f"SELECT row, doc FROM items WHERE deleted = 0 AND row IN ({marks})"
        return {row: json.loads(doc) for row, doc in self._read.execute(query, [int(r) for r in rows])}

    def records_by_id(self, ids: Sequence[str]) -> dict[str, dict]:
        """Live items' records by id (absent ids are left out)."""
        return {item_id: json.loads(doc)
                for item_id, doc in self._select_in("SELECT id, doc FROM items WHERE deleted = 0 AND id IN ({marks})", ids)}

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, int]:
        """Live items' rows by id (absent ids are left out)."""
        return dict(self._select_in("SELECT id, row FROM items WHERE deleted = 0 AND id IN ({marks})", ids))

    def get(self, item_id: str) -> dict | None:
        found = self._read.execute("SELECT doc FROM items WHERE id = ? AND deleted = 0", (item_id,)).fetchone()
        return json.loads(found[0]) if found else None

    def field_values(self, name: str) -> list[tuple[int, object]]:
        """(row, value) of one field over live items; a list value stays a list, a boolean a boolean."""
        path = "$." + json.dumps(name)
        query = "SELECT row, json_extract(doc, ?), json_type(doc, ?) FROM items WHERE deleted = 0"
        out = []
        for row, value, kind in self._read.execute(query, (path, path)):
            if value is None:
                continue
            # json_extract hands a boolean over as 1 or 0: it stays a boolean, as it is inside a list.
            out.append((row, json.loads(value) if kind == "array" else kind == "true" if kind in ("true", "false") else value))
        return out

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
