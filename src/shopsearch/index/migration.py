"""A second embedding model's vectors beside the live ones: built while serving, kept current, swapped in.

DATA_DIR/migration/vectors.sqlite holds one vector set: every live item's and chunk's vector under
one model, at one catalogue sequence. It follows the catalogue's write sequence as a replica does
(`catch_up` embeds, with its model, what was written since), so it can be built by any process that
reads the directory, beside a server that keeps writing: new writes reach it at the next catch-up.

The swap, by the directory's writer with writes held: a last catch-up; the catalogue's own vectors
written out as the next set (the previous model's, for rollback); the HNSW snapshots dropped (so a
crash from here on replays every vector from the catalogue, whichever model it holds); one
catalogue transaction puts the new vectors and the model's name in place (the atomic point); new
indexes built from them are swapped in under the read-write lock; the previous set replaces the
candidate. Rolling back is the same swap with the previous set. A set never mixes models: its
model is recorded, and a catch-up with another one is refused.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from ..errors import DataDirError
from ..models import Embedder
from ..text.chunking import Chunk
from .chunks import ChunkIndex
from .items import Item

if TYPE_CHECKING:
    from .backends import Backends

log = logging.getLogger(__name__)

MIGRATION_DIR = "migration"
VECTOR_GENERATION = "vector_generation"  # catalogue meta: bumped by every swap, which replicas follow
MODEL_SPEC = "model_spec"  # catalogue meta: the model string the directory's vectors came from
EMBED_BATCH = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (row INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (chunk INTEGER PRIMARY KEY, row INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_row ON chunks (row);
"""


@dataclass
class VectorSet:
    """One model's vectors of the catalogue at `seq`; role "candidate" (to swap in) or "previous" (to roll back to)."""

    path: Path
    spec: str
    model: dict  # {"name", "dim"}, as the catalogue records its model
    seq: int
    role: str

    @staticmethod
    def directory(data_dir: Path) -> Path:
        return Path(data_dir) / MIGRATION_DIR

    @classmethod
    def open(cls, data_dir: Path, recorded_model: str | None = None) -> "VectorSet | None":
        """The directory's vector set, or None. recorded_model (the catalogue's "model" meta) finishes a swap
        a crash interrupted after its catalogue transaction."""
        folder = cls.directory(data_dir)
        previous, path = folder / "previous.sqlite", folder / "vectors.sqlite"
        if previous.exists() and recorded_model is not None:
            # The catalogue holds the candidate's model: the swap committed, the previous set takes over.
            if path.exists() and json.loads(recorded_model) == cls._read_meta(path)["model"]:
                os.replace(previous, path)
            else:
                previous.unlink()
        if not path.exists():
            return None
        meta = cls._read_meta(path)
        return cls(path, meta["spec"], meta["model"], meta["seq"], meta["role"])

    @classmethod
    def create(cls, data_dir: Path, spec: str, model: dict, role: str = "candidate",
               name: str = "vectors.sqlite") -> "VectorSet":
        """A new, empty set for `model` ({"name", "dim"}) at sequence 0 (replacing any file of that name)."""
        folder = cls.directory(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        for stale in (path, path.with_name(name + "-wal"), path.with_name(name + "-shm")):
            stale.unlink(missing_ok=True)
        found = cls(path, spec, dict(model), 0, role)
        with found._connect() as db:
            db.executescript(_SCHEMA)
            found._write_meta(db)
        return found

    @staticmethod
    def _read_meta(path: Path) -> dict:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        finally:
            db.close()
        return {"spec": meta["spec"], "model": json.loads(meta["model"]), "seq": int(meta["seq"]), "role": meta["role"]}

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one unit of work, committed at its end (rolled back on an error) and closed."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            with db:
                yield db
        finally:
            db.close()

    def _write_meta(self, db: sqlite3.Connection) -> None:
        db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                       [("spec", self.spec), ("model", json.dumps(self.model)), ("seq", str(self.seq)), ("role", self.role)])

    def matches(self, embedder: Embedder) -> bool:
        return self.model == {"name": embedder.name, "dim": embedder.dim}

    # -- keeping it current -------------------------------------------------------
    def catch_up(self, backends: Backends, embedder: Embedder, progress: Callable[[int], None] | None = None) -> int:
        """Embed, with this set's model, every batch the catalogue committed after `seq`: items embedded.
        Each batch is committed here with its sequence, so an interrupted catch-up resumes where it stopped."""
        if not self.matches(embedder):
            raise DataDirError(f"{self.path} holds vectors of {self.model['name']} ({self.model['dim']}-d), "
                               f"not of {embedder.name}; start again with `shopsearch migrate --cleanup`")
        store, embedded = backends.store, 0
        with self._connect() as db:
            for seq, batch in store.changes_since(self.seq):
                rows = [row for row, *_ in batch]
                live = [(row, Item.from_record(record)) for row, deleted, record, _ in batch if not deleted]
                chunks = store.live_chunks([row for row, _ in live])
                titles = {row: item.title for row, item in live}
                texts = [item.embedding_text() for _, item in live]
                texts += [Chunk(heading, text).embedding_text(titles[row]) for _, row, heading, text in chunks]
                vectors = _embed(embedder, texts, progress)
                marks = ",".join("?" * len(rows))
                db.execute(f"DELETE FROM items WHERE row IN ({marks})", rows)
                db.execute(f"DELETE FROM chunks WHERE row IN ({marks})", rows)
                db.executemany("INSERT INTO items (row, vector) VALUES (?, ?)",
                               ((row, vectors[i].tobytes()) for i, (row, _) in enumerate(live)))
                db.executemany("INSERT INTO chunks (chunk, row, vector) VALUES (?, ?, ?)",
                               ((chunk, row, vectors[len(live) + i].tobytes())
                                for i, (chunk, row, _, _) in enumerate(chunks)))
                self.seq = seq
                self._write_meta(db)
                db.commit()
                embedded += len(texts)
        return embedded

    def vectors(self, table: str = "items") -> Iterator[tuple[int, int, bytes]]:
        """(key, row, vector bytes) of every item (key = row) or chunk held."""
        query = "SELECT row, row, vector FROM items" if table == "items" else "SELECT chunk, row, vector FROM chunks"
        with self._connect() as db:
            yield from db.execute(query + " ORDER BY 1")

    def indexes(self, backends: Backends, vector_dir: Path, chunk_dir: Path) -> tuple:
        """New item and chunk vector indexes (empty folders) holding this set's vectors."""
        from .factory import vector_index

        refuse_remote(backends)  # an HNSW index in memory: no records to carry (a server's filter fields)
        dim, config = self.model["dim"], backends.config
        vector = vector_index(vector_dir, dim, config, analyzer=backends.analyzer)
        for rows, matrix in _blocks(self.vectors("items"), dim):
            vector.apply(self.seq, rows[:, 0].tolist(), matrix, [])
        chunk_vectors = vector_index(chunk_dir, dim, config, chunks=True)
        live: list[tuple[int, int]] = []
        for keys, matrix in _blocks(self.vectors("chunks"), dim):
            chunk_vectors.apply(self.seq, keys[:, 0].tolist(), matrix, [])
            live += [(int(c), int(r)) for c, r in keys.tolist()]
        return vector, ChunkIndex(chunk_vectors, live)

    def remove(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


def _embed(embedder: Embedder, texts: list[str], progress: Callable[[int], None] | None) -> np.ndarray:
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for start in range(0, len(texts), EMBED_BATCH):
        part = texts[start:start + EMBED_BATCH]
        out[start:start + len(part)] = embedder.embed_documents(part)
        if progress is not None:
            progress(len(part))
    return out


def _blocks(rows: Iterable[tuple[int, int, bytes]], dim: int, size: int = 5000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """([[key, row], ...], vectors) in blocks of `size`."""
    keys: list[tuple[int, int]] = []
    blobs: list[bytes] = []
    for key, row, blob in rows:
        keys.append((key, row))
        blobs.append(blob)
        if len(keys) == size:
            yield np.asarray(keys, dtype=np.int64), np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, dim)
            keys, blobs = [], []
    if keys:
        yield np.asarray(keys, dtype=np.int64), np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, dim)


def swap(backends: Backends, candidate: VectorSet, embedder: Embedder, live_spec: str) -> VectorSet:
    """Put the candidate's vectors and model in place of the directory's (the writer, with writes held by
    the caller): the previous model's vector set, for a rollback."""
    data_dir, store = backends.data_dir, backends.store
    refuse_remote(backends)
    candidate.catch_up(backends, embedder)
    live_model = json.loads(store.get_meta("model") or "{}")
    previous = VectorSet.create(data_dir, live_spec, live_model, role="previous", name="previous.sqlite")
    previous.seq = candidate.seq
    with previous._connect() as db:
        db.executemany("INSERT INTO items (row, vector) VALUES (?, ?)", ((r, v) for _, r, v in store.live_vectors()))
        db.executemany("INSERT INTO chunks (chunk, row, vector) VALUES (?, ?, ?)", store.live_vectors("chunks"))
        previous._write_meta(db)
    for folder in ("vector", "vector-chunks"):
        (data_dir / folder / "state.json").unlink(missing_ok=True)  # from here a crash replays from the catalogue
    try:
        vector, chunks = candidate.indexes(backends, data_dir / "vector", data_dir / "vector-chunks")
        generation = backends.vector_generation + 1
        store.replace_vectors(((r, v) for _, r, v in candidate.vectors("items")),
                              ((c, v) for c, _, v in candidate.vectors("chunks")),
                              {"model": json.dumps(candidate.model), MODEL_SPEC: candidate.spec,
                               VECTOR_GENERATION: str(generation)})
    except BaseException:
        backends.save_vectors()  # the old snapshot back: nothing changed
        (data_dir / MIGRATION_DIR / "previous.sqlite").unlink(missing_ok=True)
        raise
    backends.swap_vectors(embedder, vector, chunks, generation)
    backends.save_vectors()
    os.replace(previous.path, candidate.path)
    previous.path = candidate.path
    log.info("%s: vectors of %s swapped in (generation %d)", data_dir, embedder.name, generation)
    return previous


def refuse_remote(backends: Backends) -> None:
    """A migration builds local HNSW indexes: vectors on a server (Milvus) are migrated there instead."""
    if backends.remote:
        raise DataDirError("the vectors are on Milvus: index into a new collection with the new model instead")


def follow_swap(backends: Backends) -> None:
    """A replica: take in the model the writer swapped in, with vectors read from the catalogue (the writer's
    new snapshot when it is there, the catalogue's rows beyond it), built aside and swapped in at once."""
    from ..models import create_embedder
    from .factory import vector_index

    store, data_dir = backends.store, backends.data_dir
    generation = int(store.get_meta(VECTOR_GENERATION) or 0)
    model = json.loads(store.get_meta("model") or "{}")
    embedder = create_embedder(backends.config.model, store.get_meta(MODEL_SPEC))
    if {"name": embedder.name, "dim": embedder.dim} != model:
        raise DataDirError(f"the writer swapped in {model}, which {store.get_meta(MODEL_SPEC)!r} does not make here")
    vector = vector_index(data_dir / "vector", embedder.dim, backends.config, analyzer=backends.analyzer)
    chunk_vectors = vector_index(data_dir / "vector-chunks", embedder.dim, backends.config, chunks=True)
    chunks = ChunkIndex(chunk_vectors, store.chunk_rows())
    backends.replay_into(vector, chunks)
    backends.swap_vectors(embedder, vector, chunks, generation)
    log.info("%s: following the writer's swap to %s (generation %d)", data_dir, embedder.name, generation)
