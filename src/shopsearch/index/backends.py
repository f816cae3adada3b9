"""What a data directory opens: the catalogue, the indexes derived from it, and the write lock.

Layout of a data directory:
    catalogue.sqlite   items, vectors and the write sequence (source of truth)
    keyword/           tantivy index + the last sequence it applied
    vector/            HNSW snapshot + the last sequence it holds
    vector-chunks/     the same for the chunks of long descriptions
    LOCK               held by the one process allowed to write
    remote-writes.json rows a write to a remote index (Milvus) may have touched without committing

The backends are chosen by the frozen config (vector: hnsw | milvus; keyword: tantivy |
milvus). Opening builds them in order and, if any step fails, closes what it had built.
Searches read the indexes under `reading()`; a write holds `writing()` only while it
swaps in new state (see ReadWriteLock), and only for backends that cannot be read meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ..config import EngineConfig
from ..errors import DataDirError, IndexUnavailable
from ..models import Embedder, create_embedder
from ..text import Analyzer
from ..text.synonyms import SynonymRule, SynonymSet, parse_rule
from .chunks import ChunkIndex
from .columns import FilterColumns
from .factory import check_model, keyword_index, recorded_model_spec, vector_index
from .follow import LEXICON_REFRESH_S
from .items import Item
from .keyword import KeywordIndex, ServerFusion, analyzed_fields
from .migration import VECTOR_GENERATION
from .rwlock import ReadWriteLock
from .storage import RemoteWriteNote, batch_bytes, check_space, disk_full, storage_errors, try_lock
from .store import BeforeCommit, CatalogueStore, ChunkChange, ChunkRecord
from .vector import VectorIndex

if TYPE_CHECKING:
    from .lexicon import CatalogueLexicon

log = logging.getLogger(__name__)

# Unsaved vector-index changes are replayed from the catalogue on the next
# open; snapshot often enough that the replay stays short.
SNAPSHOT_EVERY = 20_000
# Rows inserted per hold of the write lock into an index that cannot be read meanwhile (hnswlib):
# readers wait for one slice (a few ms), not for the whole batch.
SWAP_SLICE = 64
# Our own mistakes (a record missing), not the server's absence: they reach the caller as they are.
_CALLER_ERRORS = (ValueError, TypeError)


@dataclass
class Backends:
    data_dir: Path
    config: EngineConfig
    store: CatalogueStore
    embedder: Embedder
    keyword: KeywordIndex
    vector: VectorIndex
    chunks: ChunkIndex
    server_fusion: ServerFusion | None  # both legs on one server that fuses them
    lock_fd: int | None  # None: opened read-only
    analyzer: Analyzer
    columns: FilterColumns = field(init=False)
    lock: ReadWriteLock = field(default_factory=ReadWriteLock)
    writer: threading.Lock = field(default_factory=threading.Lock)  # one write at a time
    unsaved: int = 0
    behind: bool = False  # a committed batch some local index did not take (a full disk): caught up before the next write
    synonyms: SynonymSet = field(init=False)
    rules_version: int = field(init=False)  # bumped by every change of the synonyms or the ranker, which change answers
    _lexicon: CatalogueLexicon | None = field(default=None, init=False)
    _lexicon_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _note: RemoteWriteNote = field(init=False)
    followed_seq: int = field(init=False)  # a reader: the last committed batch its indexes hold (index/follow.py)
    settings_changed: list[Callable[[], None]] = field(default_factory=list)  # a reader: called when synonyms or rules move
    _lexicon_built: float = field(default=0.0, init=False)
    vector_generation: int = field(init=False)  # bumped by each model swap (index/migration.py)

    def __post_init__(self) -> None:
        self._note = RemoteWriteNote(self.data_dir)
        self.columns = FilterColumns(self.store, self.store.max_row() + 1)
        self.synonyms = load_synonyms(self.store)
        self.rules_version = int(self.store.get_meta(RULES_VERSION) or 0)
        self.followed_seq = self.store.last_seq()
        self.vector_generation = int(self.store.get_meta(VECTOR_GENERATION) or 0)

    def lexicon(self) -> CatalogueLexicon:
        """The catalogue's words and values (built on first use: one read of the catalogue)."""
        if self._lexicon is None:
            from .lexicon import CatalogueLexicon

            with self._lexicon_lock:
                if self._lexicon is None:
                    settings = self.config.understand
                    self._lexicon = CatalogueLexicon.build(self.store, self.analyzer, settings.entity_fields,
                                                           product_types=settings.type_boost > 0)
                    self._lexicon_built = time.monotonic()
        return self._lexicon

    def follow_batch(self, seq: int, rows: Sequence[int], records: Sequence[Mapping[str, Any]], vectors: np.ndarray,
                     deleted: Sequence[int]) -> None:
        """A reader: take in a batch its writer committed (index/follow.py); the keyword index reads the writer's."""
        if self.remote:
            self.columns.replace([*rows, *deleted], [*records])
        else:
            self._apply_local_vectors(seq, rows, records, vectors, deleted)
        if self._lexicon is not None and time.monotonic() - self._lexicon_built >= LEXICON_REFRESH_S:
            self._lexicon = None  # rebuilt from the catalogue on next use

    def follow_settings(self) -> None:
        """A reader: take in synonyms and rules the writer stored since."""
        version = int(self.store.get_meta(RULES_VERSION) or 0)
        if version != self.rules_version:
            self.synonyms = load_synonyms(self.store)
            for changed in self.settings_changed:
                changed()
            self.rules_version = version

    def set_synonyms(self, rules: Sequence[SynonymRule]) -> SynonymSet:
        """Replace the managed synonyms (all of them, at once) and store them with the catalogue."""
        synonyms = SynonymSet(tuple(rules))
        self.store_setting(SYNONYMS, json.dumps([rule.to_line() for rule in synonyms.rules], ensure_ascii=False),
                           lambda: setattr(self, "synonyms", synonyms))
        return synonyms

    def store_setting(self, key: str, value: str, swap: Callable[[], None]) -> None:
        """Store a setting that changes answers (synonyms, merchandising rules) with the catalogue, `swap`
        it in, and move to a new version so that no cache serves an answer from before."""
        if self.read_only:
            raise DataDirError(f"{self.data_dir} is open read-only (another process holds its write lock)")
        with self.writer:
            self.store.set_meta(key, value)
            swap()  # first: a search that reads the new version must find the new setting
            self._bump_rules_version(persist=True)

    def answers_changed(self, persist: bool = True) -> None:
        """Something besides the catalogue and the synonyms changed what searches answer (a learned ranker
        installed): a new version, so that no cache serves an answer from before. persist=False for a change
        that is not stored either (it ends with the process), which a read-only directory may make too."""
        with self.writer:
            self._bump_rules_version(persist and not self.read_only)

    def _bump_rules_version(self, persist: bool) -> None:
        # Stored, so that after a restart the version never falls back to one a shared cache (Redis)
        # still holds answers for.
        if persist:
            self.store.set_meta(RULES_VERSION, str(self.rules_version + 1))
        self.rules_version += 1

    @property
    def read_only(self) -> bool:
        return self.lock_fd is None

    @classmethod
    def open(cls, data_dir: str | Path, config: EngineConfig, *, read_only: bool = False, create: bool = True,
             embedder: Embedder | None = None) -> "Backends":
        """Open (or create) a data directory; the first process to open it for writing holds its lock,
        a later one reads (it sees every batch the writer has committed)."""
        data_dir = Path(data_dir)
        db_path = data_dir / "catalogue.sqlite"
        if not db_path.exists():
            if read_only or not create:
                raise DataDirError(f"{data_dir} holds no shopsearch index (run `shopsearch index` first)")
            data_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as opened:
            lock_fd = None if read_only else try_lock(data_dir / "LOCK")
            if lock_fd is not None:
                opened.callback(os.close, lock_fd)
            elif not db_path.exists():
                raise DataDirError(f"{data_dir} is locked by another process and not yet initialised")
            store = CatalogueStore(db_path, read_only=lock_fd is None)
            opened.callback(store.close)
            embedder = embedder or create_embedder(config.model, recorded_model_spec(store, config.model))
            check_model(store, embedder, writable=lock_fd is not None)
            analyzer = Analyzer(config.keyword.stem_languages)
            vector = vector_index(data_dir / "vector", embedder.dim, config, analyzer=analyzer)
            opened.callback(vector.close)
            keyword, server_fusion = keyword_index(data_dir, config, writable=lock_fd is not None, vector=vector)
            opened.callback(keyword.close)
            chunk_vectors = vector_index(data_dir / "vector-chunks", embedder.dim, config, chunks=True)
            opened.callback(chunk_vectors.close)
            backends = cls(data_dir, config, store, embedder, keyword, vector, ChunkIndex(chunk_vectors, store.chunk_rows()),
                           server_fusion, lock_fd, analyzer)
            backends.repair_remote()
            try:
                backends.catch_up()
            except Exception as exc:
                if not disk_full(exc, data_dir):
                    raise
                # Open all the same: searches answer from what the indexes hold; the next write catches up first.
                log.warning("%s: the indexes could not take in every committed batch, the disk is full (%s); "
                            "searches may miss the newest items until space is freed", data_dir, exc)
                backends.behind = True
            opened.pop_all()  # success: the backends own what was opened
        return backends

    def close(self) -> None:
        """Save what is unsaved (when writing) and close every part, the keyword index too when reading."""
        with ExitStack() as closing:  # every part is closed even if one of them fails
            if self.lock_fd is not None:
                closing.callback(os.close, self.lock_fd)
                self.lock_fd = None
            closing.callback(self.store.close)
            closing.callback(self.chunks.close)
            closing.callback(self.vector.close)
            closing.callback(self.keyword.close)
            if self.unsaved:
                try:
                    self.save_vectors()
                except Exception as exc:
                    if not disk_full(exc, self.data_dir):
                        raise
                    # Nothing is lost: the next open replays the catalogue into the last snapshot.
                    log.warning("vector snapshot not saved, the disk is full (%s); the next open replays it", exc)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold while reading the indexes: a write cannot swap state underneath."""
        with self.lock.reading():
            yield

    def mask(self, conditions) -> np.ndarray | None:
        return self.columns.mask(conditions) if conditions else None

    # -- writes ---------------------------------------------------------------
    def catch_up(self) -> None:
        """Apply catalogue batches the derived indexes have not seen (after a crash, say). On a full disk the
        vectors are still replayed (in memory) before the full disk is raised: searches then miss only what
        the keyword index could not take."""
        full: Exception | None = None
        for replay in (self._replay_vectors, self._replay_keyword):
            try:
                replay()
            except Exception as exc:
                if not disk_full(exc, self.data_dir):
                    raise
                full = full or exc
        if full is not None:
            raise full

    def _replay_keyword(self) -> None:
        if not self.read_only:
            for seq, batch in self.store.changes_since(self.keyword.applied_seq):
                upserts = {row: analyzed_fields(self.analyzer, record) for row, deleted, record, _ in batch if not deleted}
                self.keyword.apply(seq, upserts, [row for row, deleted, *_ in batch if deleted])

    def _replay_vectors(self) -> None:
        replayed = self.replay_into(self.vector, self.chunks)
        if replayed and not self.read_only:
            self.unsaved += replayed
            self.save_vectors()

    def replay_into(self, vector: VectorIndex, chunks: ChunkIndex) -> int:
        """Apply to vector indexes the catalogue's batches after the sequences they hold: rows replayed."""
        replayed = 0
        for seq, batch in self.store.changes_since(vector.applied_seq):
            live = [(row, vec, record) for row, deleted, record, vec in batch if not deleted]
            vectors = np.stack([v for _, v, _ in live]) if live else np.zeros((0, vector.dim), np.float32)
            vector.apply(seq, [r for r, _, _ in live], vectors, [row for row, deleted, *_ in batch if deleted],
                         [record for _, _, record in live])
            replayed += len(batch)
        for seq, chunk_batch in self.store.chunk_changes_since(chunks.applied_seq):
            chunks.apply(seq, chunk_batch)
            replayed += len(chunk_batch)
        return replayed

    def swap_vectors(self, embedder: Embedder, vector: VectorIndex, chunks: ChunkIndex, generation: int) -> None:
        """Another model's vectors in place (index/migration.py): searches see the old or the new, never a mix."""
        with self.lock.writing():
            old = self.vector, self.chunks
            self.embedder, self.vector, self.chunks, self.vector_generation = embedder, vector, chunks, generation
        self._bump_rules_version(persist=not self.read_only)  # no cache may serve an answer of the old model
        for index in old:
            index.close()

    @property
    def remote(self) -> bool:
        """Whether the vectors live on a server (both collections, items' and chunks', are on one backend)."""
        return self.vector.remote

    def commit_upsert(self, items: Sequence[Item], vectors: np.ndarray, chunk_records: Sequence[Sequence[ChunkRecord]],
                      previous: Sequence[Mapping[str, Any]]) -> tuple[int, list[int]]:
        """Store a batch and bring every index up to it: (seq, rows). With the vectors on a server, they are
        written there inside the catalogue's transaction, before it commits: if the server fails, the
        transaction rolls back and IndexUnavailable says nothing was written. Called under `writer`."""
        records = [item.to_record() for item in items]
        local = 0 if self.remote else self.vector.count() + self.chunks.count() + len(records)
        check_space(self.data_dir, batch_bytes(records, vectors, chunk_records, local), self.config.min_free_mb)
        return self._commit(lambda before: self.store.upsert(items, vectors, chunk_records, before_commit=before),
                            self._remote_write(records, vectors, deleting=False),
                            lambda seq, rows: self.apply(seq, rows, records, vectors, previous=previous))

    def commit_delete(self, ids: Sequence[str], previous: Sequence[Mapping[str, Any]]) -> tuple[int, list[int]]:
        """Delete items by id as one batch: (seq, rows deleted). As commit_upsert, without the free-space
        check: deleting is how space comes back."""
        none = np.zeros((0, self.vector.dim), np.float32)

        def apply(seq: int, rows: list[int]) -> None:
            if rows:
                self.apply(seq, [], [], none, deleted=rows, previous=previous)
        return self._commit(lambda before: self.store.delete(ids, before_commit=before),
                            self._remote_write([], none, deleting=True), apply)

    def _commit(self, store: Callable[[BeforeCommit | None], tuple[int, list[int]]], before_commit: BeforeCommit | None,
                then: Callable[[int, list[int]], None]) -> tuple[int, list[int]]:
        self.repair_remote()
        with storage_errors(self.data_dir, self._fell_behind) as committed:
            self._catch_up_behind()
            seq, rows = store(before_commit)
            committed.append(seq)
            self._note.clear()
            then(seq, rows)
        return seq, rows

    def _fell_behind(self) -> None:
        self.behind = True

    def _catch_up_behind(self) -> None:
        """Replay what a failed write left out of the local indexes, before the next write goes on top of it."""
        if not self.behind:
            return
        with self.lock.writing():  # replaying into hnswlib: no reader may walk the graph meanwhile
            self.catch_up()
            self._lexicon = None  # rebuilt from the catalogue on next use
            self.columns = FilterColumns(self.store, self.store.max_row() + 1)
        self.behind = False

    def _remote_write(self, records: Sequence[Mapping[str, Any]], vectors: np.ndarray, deleting: bool) -> BeforeCommit | None:
        """What commits a batch to the server, inside the catalogue's transaction (None: the vectors are local).
        The rows it may touch are noted on disk first (RemoteWriteNote), for repair_remote."""
        if not self.remote:
            return None

        def write(seq: int, rows: list[int], chunk_batch: list[ChunkChange]) -> None:
            self._note.write(seq, rows, [c for c, *_ in chunk_batch])
            try:
                if deleting:
                    self.vector.apply(seq, [], vectors, rows, [])
                else:
                    self.vector.apply(seq, rows, vectors, [], records)
                if chunk_batch:
                    self.chunks.apply(seq, chunk_batch)
            except _CALLER_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the client raises when the server is away
                raise IndexUnavailable(f"the vector index server ({self.config.vector.uri}) failed: {exc}; "
                                       "nothing was written") from exc
        return write

    def repair_remote(self) -> None:
        """Set the rows a failed (or interrupted) remote write noted back to what the catalogue holds: the
        server may hold vectors of a batch the catalogue rolled back. Runs before the next write and on open;
        IndexUnavailable while the server is still away."""
        noted = None if self.read_only or not self.remote else self._note.read()
        if noted is None:
            return
        rows, chunks = noted
        current = self.store.current(rows)
        live = [(row, record, vector) for row, record, vector in current if record is not None and vector is not None]
        gone = [row for row, record, _ in current if record is None]
        vectors = np.stack([v for *_, v in live]) if live else np.zeros((0, self.vector.dim), np.float32)
        try:
            self.vector.apply(self.vector.applied_seq, [r for r, _, _ in live], vectors, gone, [rec for _, rec, _ in live])
            if chunks:
                self.chunks.apply(self.chunks.applied_seq, self.store.current_chunks(chunks))
        except Exception as exc:  # noqa: BLE001 - as in _remote_write
            raise IndexUnavailable(f"the vector index server ({self.config.vector.uri}) is still away: {exc}; "
                                   "nothing was written") from exc
        self._note.clear()

    def apply(self, seq: int, rows: Sequence[int], records: Sequence[Mapping[str, Any]], vectors: np.ndarray,
              deleted: Sequence[int] = (), previous: Sequence[Mapping[str, Any]] = ()) -> None:
        """Bring the local indexes up to a batch the catalogue committed as `seq`: `records` and `vectors` are
        the new versions of `rows`; `deleted` rows are gone; `previous` are the old records of the rows it
        replaced or deleted. Remote vectors were written before the commit (commit_upsert). Called by the
        one writer (under `writer`)."""
        if self._lexicon is not None:
            self._lexicon.update(seq, rows, records, deleted, previous)
        upserts = {row: analyzed_fields(self.analyzer, record) for row, record in zip(rows, records)}
        # A tantivy commit does not disturb searchers (each reads a snapshot), so it runs beside them.
        self.keyword.apply(seq, upserts, deleted)
        if self.remote:
            self.columns.replace([*rows, *deleted], [*records])
        else:
            self._apply_local_vectors(seq, rows, records, vectors, deleted)
        self.unsaved += len(rows) + len(deleted)
        if self.unsaved >= SNAPSHOT_EVERY:
            self.save_vectors()

    def _apply_local_vectors(self, seq: int, rows: Sequence[int], records: Sequence[Mapping[str, Any]], vectors: np.ndarray,
                             deleted: Sequence[int]) -> None:
        chunk_batch = [batch for batch_seq, batch in self.store.chunk_changes_since(seq - 1) if batch_seq == seq]
        exclusive = not (self.vector.reads_during_writes and self.chunks.reads_during_writes)

        def swap() -> AbstractContextManager:
            return self.lock.writing() if exclusive else nullcontext()

        # In slices: a search between two slices sees some of the batch's vectors (as it may already
        # see its keyword rows); filters take in the new rows with the columns, at the end.
        step = SWAP_SLICE if exclusive else max(len(rows), 1)
        for start in range(0, len(rows), step) if len(rows) else ([0] if len(deleted) else []):
            with swap():
                self.vector.apply(seq, rows[start:start + step], vectors[start:start + step],
                                  deleted if start == 0 else [], records[start:start + step])
        with swap():
            for batch in chunk_batch:
                self.chunks.apply(seq, batch)
            self.columns.replace([*rows, *deleted], [*records])

    def save_vectors(self) -> None:
        # Snapshots read the graph, which only this writer changes: readers may go on meanwhile.
        self.vector.save()
        self.chunks.save()
        self.unsaved = 0

    def stats(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir), "items": self.store.count(),
            "model": {"name": self.embedder.name, "dim": self.embedder.dim},
            "keyword_index": {"docs": self.keyword.count(), "bytes": self.keyword.size_bytes()},
            "vector_index": {"vectors": self.vector.count(), "bytes": self.vector.size_bytes()},
            "chunk_index": {"chunks": self.chunks.count(), "bytes": self.chunks.size_bytes()},
            "catalogue_bytes": self.store.size_bytes(),
            "last_seq": self.store.last_seq(), "read_only": self.read_only,
            "languages": self.lexicon().language_counts(),  # per field, as text/languages.py reads them
        }


SYNONYMS, RULES_VERSION = "synonyms", "rules_version"


def load_synonyms(store: CatalogueStore) -> SynonymSet:
    stored = store.get_meta(SYNONYMS)
    return SynonymSet(tuple(parse_rule(line) for line in json.loads(stored))) if stored else SynonymSet()
