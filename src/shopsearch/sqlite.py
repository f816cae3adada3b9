"""What the project's SQLite files share (the catalogue, the search log): one way to write."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE): what it reads
    (the next sequence number, a search's row) cannot be taken or changed by another writer
    before it commits. Rolled back on any exception. `db` runs in autocommit mode."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
