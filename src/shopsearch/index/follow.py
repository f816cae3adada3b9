"""Near-real-time replicas: a read-only data directory follows what its writer commits.

Several `shopsearch serve` processes may share one data directory: the one holding its lock
writes, the others (`--read-only`, or any that finds the lock taken) read. A reader's indexes were
current when it opened; a Follower thread then polls the catalogue's write sequence (one indexed
MAX over SQLite, which a reader's WAL snapshot sees as soon as the writer commits) and applies the
batches it has not seen, exactly as the writer's own apply does: the new vectors into its HNSW
copy in memory (under the same read-write lock), the filter columns, and a reload of the tantivy
reader, which sees the writer's keyword commits. Synonyms and merchandising rules follow their
stored version, and a model swapped in by a migration is swapped in here too. The lexicon behind typo correction and brand words is rebuilt from the catalogue
at most every LEXICON_REFRESH_S while writes flow (a rebuild reads every record).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import numpy as np

from .migration import VECTOR_GENERATION, follow_swap

if TYPE_CHECKING:
    from .backends import Backends

log = logging.getLogger(__name__)

LEXICON_REFRESH_S = 30.0


def follow_once(backends: Backends) -> int:
    """Apply to a read-only directory what the writer committed since it last looked: batches applied."""
    store = backends.store
    latest = store.last_seq()
    applied = 0
    # Every time, not only when the catalogue moved: the writer commits the keyword index just after the
    # catalogue, so a reload at the catalogue's move can miss that batch's keyword commit.
    backends.keyword.refresh()
    if int(store.get_meta(VECTOR_GENERATION) or 0) != backends.vector_generation:
        follow_swap(backends)  # the writer swapped in another model's vectors (a migration)
    if latest > backends.followed_seq:
        for seq, batch in store.changes_since(backends.followed_seq):
            live = [(row, record, vector) for row, deleted, record, vector in batch if not deleted]
            vectors = np.stack([v for _, _, v in live]) if live else np.zeros((0, backends.vector.dim), np.float32)
            backends.follow_batch(seq, [r for r, _, _ in live], [rec for _, rec, _ in live], vectors,
                                  [row for row, deleted, *_ in batch if deleted])
            applied += 1
        backends.followed_seq = latest
    backends.follow_settings()
    return applied


class Follower:
    """A daemon thread calling follow_once every `interval` seconds (EngineConfig.follow_interval_s) until stopped."""

    def __init__(self, backends: Backends, interval: float) -> None:
        self.backends, self.interval = backends, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"follow:{backends.data_dir.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                follow_once(self.backends)
            except Exception as exc:  # noqa: BLE001 - a failed poll is retried at the next one
                log.warning("following %s failed, retrying: %s", self.backends.data_dir, exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
