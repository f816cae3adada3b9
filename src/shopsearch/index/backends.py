"""What a data directory opens: the catalogue, the indexes derived from it, and the write lock.

Layout of a data directory:
    catalogue.sqlite   items, vectors and the write sequence (source of truth)
    keyword/           tantivy index + the last sequence it applied
    vector/            HNSW snapshot + the last sequence it holds
    vector-chunks/     the same for the chunks of long descriptions
    LOCK               held by the one process allowed to write

The backends are chosen by the frozen config (vector: hnsw | milvus; keyword: tantivy |
milvus). Opening builds them in order and, if any step fails, closes what it had built.
Searches read the indexes under `reading()`; a write holds `writing()` only while it
swaps in new state (see ReadWriteLock), and only for backends that cannot be read meanwhile.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np

from ..config import EngineConfig, ModelConfig
from ..errors import DataDirError
from ..models import Embedder, create_embedder
from ..models.factory import builtin_for_model
from ..text import Analyzer
from ..text.synonyms import SynonymRule, SynonymSet, parse_rule
from .chunks import ChunkIndex
from .columns import FilterColumns
from .keyword import TEXT_FIELDS, KeywordIndex, ServerFusion
from .rwlock import ReadWriteLock
from .store import CatalogueStore
from .vector import VectorIndex

if TYPE_CHECKING:
    from .lexicon import CatalogueLexicon

# Unsaved vector-index changes are replayed from the catalogue on the next
# open; snapshot often enough that the replay stays short.
SNAPSHOT_EVERY = 20_000
# Rows inserted per hold of the write lock into an index that cannot be read meanwhile (hnswlib):
# readers wait for one slice (a few ms), not for the whole batch.
SWAP_SLICE = 64


def analyzed_fields(analyzer: Analyzer, record: Mapping[str, Any]) -> dict[str, str]:
    """What the keyword leg indexes of a product: each text field as its space-joined terms."""
    return {name: " ".join(analyzer.terms(str(record.get(name) or ""))) for name in TEXT_FIELDS}


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
    synonyms: SynonymSet = field(init=False)
    rules_version: int = field(init=False)  # bumped by every change of the synonyms or the ranker, which change answers
    _lexicon: CatalogueLexicon | None = field(default=None, init=False)
    _lexicon_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.columns = FilterColumns(self.store, self.store.max_row() + 1)
        self.synonyms = load_synonyms(self.store)
        self.rules_version = int(self.store.get_meta(RULES_VERSION) or 0)

    def lexicon(self) -> CatalogueLexicon:
        """The catalogue's words and values (built on first use: one read of the catalogue)."""
        if self._lexicon is None:
            from .lexicon import CatalogueLexicon

            with self._lexicon_lock:
                if self._lexicon is None:
                    settings = self.config.understand
                    self._lexicon = CatalogueLexicon.build(self.store, self.analyzer, settings.entity_fields,
                                                           product_types=settings.type_boost > 0)
        return self._lexicon

    def set_synonyms(self, rules: Sequence[SynonymRule]) -> SynonymSet:
        """Replace the managed synonyms (all of them, at once) and store them with the catalogue."""
        synonyms = SynonymSet(tuple(rules))
        with self.writer:
            self.store.set_meta(SYNONYMS, json.dumps([rule.to_line() for rule in synonyms.rules], ensure_ascii=False))
            self.synonyms = synonyms  # first: a search that reads the new version must find these synonyms
            self._bump_rules_version(persist=True)
        return synonyms

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
            embedder = embedder or create_embedder(config.model, recorded_builtin(store, config.model))
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
            backends.catch_up()
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
                self.save_vectors()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold while reading the indexes: a write cannot swap state underneath."""
        with self.lock.reading():
            yield

    def mask(self, conditions) -> np.ndarray | None:
        return self.columns.mask(conditions) if conditions else None

    # -- writes ---------------------------------------------------------------
    def catch_up(self) -> None:
        """Apply catalogue batches the derived indexes have not seen (after a crash, say)."""
        if not self.read_only:
            for seq, batch in self.store.changes_since(self.keyword.applied_seq):
                upserts = {row: analyzed_fields(self.analyzer, record) for row, deleted, record, _ in batch if not deleted}
                self.keyword.apply(seq, upserts, [row for row, deleted, *_ in batch if deleted])
        replayed = 0
        for seq, batch in self.store.changes_since(self.vector.applied_seq):
            live = [(row, vec, record) for row, deleted, record, vec in batch if not deleted]
            vectors = np.stack([v for _, v, _ in live]) if live else np.zeros((0, self.vector.dim), np.float32)
            self.vector.apply(seq, [r for r, _, _ in live], vectors, [row for row, deleted, *_ in batch if deleted],
                              [record for _, _, record in live])
            replayed += len(batch)
        for seq, chunk_batch in self.store.chunk_changes_since(self.chunks.applied_seq):
            self.chunks.apply(seq, chunk_batch)
            replayed += len(chunk_batch)
        if replayed and not self.read_only:
            self.save_vectors()

    def apply(self, seq: int, rows: Sequence[int], records: Sequence[Mapping[str, Any]], vectors: np.ndarray,
              deleted: Sequence[int] = (), previous: Sequence[Mapping[str, Any]] = ()) -> None:
        """Bring every index up to a batch the catalogue committed as `seq`: `records` and `vectors` are the
        new versions of `rows`; `deleted` rows are gone; `previous` are the old records of the rows it
        replaced or deleted. Called by the one writer (under `writer`)."""
        if self._lexicon is not None:
            self._lexicon.update(seq, rows, records, deleted, previous)
        upserts = {row: analyzed_fields(self.analyzer, record) for row, record in zip(rows, records)}
        # A tantivy commit does not disturb searchers (each reads a snapshot), so it runs beside them.
        self.keyword.apply(seq, upserts, deleted)
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
        self.unsaved += len(rows) + len(deleted)
        if self.unsaved >= SNAPSHOT_EVERY:
            self.save_vectors()

    def save_vectors(self) -> None:
        # Snapshots read the graph, which only this writer changes: readers may go on meanwhile.
        self.vector.save()
        self.chunks.save()
        self.unsaved = 0

    def stats(self) -> dict[str, Any]:
        return {
            "keyword_index": {"docs": self.keyword.count(), "bytes": self.keyword.size_bytes()},
            "vector_index": {"vectors": self.vector.count(), "bytes": self.vector.size_bytes()},
            "chunk_index": {"chunks": self.chunks.count(), "bytes": self.chunks.size_bytes()},
            "catalogue_bytes": self.store.size_bytes(),
        }


SYNONYMS, RULES_VERSION = "synonyms", "rules_version"


def load_synonyms(store: CatalogueStore) -> SynonymSet:
    stored = store.get_meta(SYNONYMS)
    return SynonymSet(tuple(parse_rule(line) for line in json.loads(stored))) if stored else SynonymSet()


def vector_index(path: Path, dim: int, config: EngineConfig, chunks: bool = False,
                 analyzer: Analyzer | None = None) -> VectorIndex:
    """The items' vector index, or with chunks=True the chunk vectors' (a second collection on Milvus,
    filtered by the chunk masks, so it carries no filter fields). On Milvus with the keyword leg
    there too, the items' collection also holds their text for the server's BM25."""
    if config.vector.backend == "hnsw":
        from .vector_hnsw import HnswVectorIndex

        return HnswVectorIndex(path, dim, config.vector)
    from .milvus import BM25Unsupported, bm25_document
    from .vector_milvus import MilvusVectorIndex

    collection = config.vector.collection + ("_chunks" if chunks else "")
    text_of = None
    if not chunks and analyzer is not None:
        def text_of(record: Mapping[str, Any], analyzer: Analyzer = analyzer) -> str:
            return bm25_document(analyzed_fields(analyzer, record))
    try:
        return MilvusVectorIndex(path, dim, config.vector, collection, filter_fields=not chunks, text_of=text_of,
                                 bm25=text_of is not None and config.keyword.backend == "milvus")
    except BM25Unsupported as exc:
        raise DataDirError(str(exc)) from None


def keyword_index(data_dir: Path, config: EngineConfig, writable: bool,
                  vector: VectorIndex) -> tuple[KeywordIndex, ServerFusion | None]:
    """The keyword index, and the same index as a server that fuses both legs when it is one."""
    if config.keyword.backend == "milvus":
        from .keyword_milvus import MilvusKeywordIndex, SharedMilvusKeywordIndex
        from .milvus import BM25Unsupported
        from .vector_milvus import MilvusVectorIndex

        if not isinstance(vector, MilvusVectorIndex):
            raise DataDirError("keyword backend milvus needs the vector leg on Milvus too (SHOPSEARCH_VECTOR__BACKEND=milvus)")
        if vector.has_text:
            shared = SharedMilvusKeywordIndex(vector)
            return shared, shared
        # A vector collection created before it held the text: BM25 in a collection of its own.
        try:
            return MilvusKeywordIndex(data_dir / "keyword-milvus", config.vector.uri, config.vector.collection + "_text"), None
        except BM25Unsupported as exc:
            raise DataDirError(str(exc)) from None
    from .keyword_tantivy import IncompatibleIndex, TantivyKeywordIndex

    boosts = {"all": config.keyword.all_boost, "title": config.keyword.title_boost, "brand": config.keyword.brand_boost,
              "category": config.keyword.category_boost, "description": config.keyword.description_boost}
    try:
        return TantivyKeywordIndex(data_dir / "keyword", boosts, writable=writable), None
    except IncompatibleIndex as exc:
        raise DataDirError(str(exc)) from None


def try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def recorded_builtin(store: CatalogueStore, config: ModelConfig) -> str | None:
    """Under the "default" model, a directory built with another built-in model keeps using it
    (the default changed from USE to e5-small; older directories stay searchable)."""
    recorded = store.get_meta("model")
    if config.embedder != "default" or recorded is None:
        return None
    return builtin_for_model(json.loads(recorded)["name"])


def check_model(store: CatalogueStore, embedder: Embedder, writable: bool) -> None:
    recorded = store.get_meta("model")
    current = {"name": embedder.name, "dim": embedder.dim}
    if recorded is None:
        if writable:
            store.set_meta("model", json.dumps(current))
        return
    previous = json.loads(recorded)
    if previous != current:
        raise DataDirError(
            f"this data directory was built with model {previous['name']} ({previous['dim']}-d); "
            f"the configured model is {current['name']} ({current['dim']}-d). Re-index into a new directory."
        )
