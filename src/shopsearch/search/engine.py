"""The embedded engine: one data directory, keyword + vector + hybrid search with filters.

Layout of a data directory:
    catalogue.sqlite   items, vectors and the write sequence (source of truth)
    keyword/           tantivy index + the last sequence it applied
    vector/            HNSW snapshot + the last sequence it holds
    LOCK               held by the one process allowed to write
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..config import EngineConfig
from ..index.filters import Column, InvalidFilter, evaluate, parse_filters
from ..index.items import Item
from ..index.keyword import TEXT_FIELDS, KeywordIndex
from ..index.keyword_tantivy import IncompatibleIndex, TantivyKeywordIndex
from ..index.store import CatalogueStore
from ..index.vector import VectorIndex
from ..index.vector_hnsw import HnswVectorIndex
from ..models import Embedder, ModelUnavailable, create_embedder
from ..text import Analyzer, surface_tokens
from .fusion import FUSIONS, fuse
from .ranker import Candidates, LearnedRanker, features

log = logging.getLogger(__name__)

MODES = ("keyword", "vector", "hybrid")
MAX_K = 1000
# Unsaved vector-index changes are replayed from the catalogue on the next
# open; snapshot often enough that the replay stays short.
_SNAPSHOT_EVERY = 20_000


class InvalidRequest(ValueError):
    """A search or write request that cannot be served; `param` names the culprit."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class DataDirError(RuntimeError):
    """The data directory cannot be used as asked (locked, other model, missing)."""


@dataclass
class Explanation:
    keyword_score: float | None = None
    keyword_rank: int | None = None
    vector_score: float | None = None
    vector_rank: int | None = None
    fused_score: float = 0.0
    ranker_score: float | None = None
    matched_terms: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Hit:
    id: str
    score: float
    item: dict[str, Any]
    explanation: Explanation

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "item": self.item, "explanation": self.explanation.__dict__}


@dataclass
class SearchResponse:
    query: str
    mode: str
    hits: list[Hit]
    took_ms: float
    embed_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "mode": self.mode,
            "took_ms": round(self.took_ms, 3),
            "embed_ms": round(self.embed_ms, 3),
            "warnings": self.warnings,
            "results": [h.to_dict() for h in self.hits],
        }


@dataclass(frozen=True)
class WriteResult:
    seq: int
    count: int


class Engine:
    def __init__(
        self,
        data_dir: Path,
        config: EngineConfig,
        store: CatalogueStore,
        embedder: Embedder,
        keyword: KeywordIndex,
        vector: VectorIndex,
        lock_fd: int | None,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.read_only = lock_fd is None
        self._store = store
        self._embedder = embedder
        self._keyword = keyword
        self._vector = vector
        self._lock_fd = lock_fd
        self._analyzer = Analyzer(config.keyword.stem_languages)
        self._columns: dict[str, Column] = {}
        # Shops repeat filters (category pages, price bands): recent masks are
        # kept until the next write.
        self._masks: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._size = store.max_row() + 1
        self._unsaved = 0
        self._ranker: LearnedRanker | None = None
        self.ranker_problem: str | None = None
        try:
            self._ranker = LearnedRanker.load(data_dir)
        except (ValueError, ModelUnavailable) as exc:
            # Search still works without the second stage; say why it is off.
            self.ranker_problem = str(exc)
            log.warning("learned ranker not used: %s", exc)

    # -- lifecycle ------------------------------------------------------------
    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        config: EngineConfig | None = None,
        *,
        read_only: bool = False,
        create: bool = True,
        embedder: Embedder | None = None,
    ) -> "Engine":
        """Open (or create) a data directory.

        The first process to open it for writing holds its lock; a later one
        falls back to reading (it sees every batch the writer has committed).
        Opening for writing first replays into the indexes whatever the
        catalogue committed that they had not applied (after a crash, say).
        """
        config = config or EngineConfig.from_env()
        data_dir = Path(data_dir)
        db_path = data_dir / "catalogue.sqlite"
        if not db_path.exists():
            if read_only or not create:
                raise DataDirError(f"{data_dir} holds no shopsearch index (run `shopsearch index` first)")
            data_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = None if read_only else _try_lock(data_dir / "LOCK")
        if lock_fd is None and not db_path.exists():
            raise DataDirError(f"{data_dir} is locked by another process and not yet initialised")
        try:
            store = CatalogueStore(db_path, read_only=lock_fd is None)
            embedder = embedder or create_embedder(config.model)
            _check_model(store, embedder, writable=lock_fd is not None)
            boosts = {
                "all": config.keyword.all_boost,
                "title": config.keyword.title_boost,
                "brand": config.keyword.brand_boost,
                "category": config.keyword.category_boost,
                "description": config.keyword.description_boost,
            }
            try:
                keyword = TantivyKeywordIndex(data_dir / "keyword", boosts, writable=lock_fd is not None)
            except IncompatibleIndex as exc:
                raise DataDirError(str(exc)) from None
            vector = HnswVectorIndex(data_dir / "vector", embedder.dim, config.vector)
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        engine = cls(data_dir, config, store, embedder, keyword, vector, lock_fd)
        engine._catch_up()
        return engine

    def close(self) -> None:
        if self._lock_fd is None:
            self._store.close()
            return
        if self._unsaved:
            self._vector.save()
        self._keyword.close()
        self._store.close()
        os.close(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _catch_up(self) -> None:
        """Apply catalogue batches the derived indexes have not seen."""
        if not self.read_only:
            for seq, batch in self._store.changes_since(self._keyword.applied_seq):
                upserts = {row: self._analyzed(record) for row, deleted, record, _ in batch if not deleted}
                self._keyword.apply(seq, upserts, [row for row, deleted, *_ in batch if deleted])
        replayed = 0
        for seq, batch in self._store.changes_since(self._vector.applied_seq):
            live = [(row, vec) for row, deleted, _, vec in batch if not deleted]
            vectors = np.stack([v for _, v in live]) if live else np.zeros((0, self._vector.dim), np.float32)
            self._vector.apply(seq, [r for r, _ in live], vectors, [row for row, deleted, *_ in batch if deleted])
            replayed += len(batch)
        if replayed and not self.read_only:
            self._vector.save()

    # -- writes ---------------------------------------------------------------
    def upsert(self, items: Iterable[Item | Mapping[str, Any]]) -> WriteResult:
        """Insert or replace items by id, as one committed batch."""
        self._require_writable()
        latest: dict[str, Item] = {}
        for item in items:
            item = item if isinstance(item, Item) else Item.from_record(item)
            latest[item.id] = item  # the last version of an id within a batch wins
        if not latest:
            return WriteResult(self._store.last_seq(), 0)
        batch = list(latest.values())
        # Embed before touching any file: a model failure leaves everything as it was.
        vectors = self._embedder.embed_documents([item.embedding_text() for item in batch])
        seq, rows = self._store.upsert(batch, vectors)
        records = [item.to_record() for item in batch]
        self._keyword.apply(seq, {row: self._analyzed(record) for row, record in zip(rows, records)}, [])
        self._vector.apply(seq, rows, vectors, [])
        self._after_write(rows, records)
        return WriteResult(seq, len(rows))

    def delete(self, ids: Iterable[str]) -> WriteResult:
        """Delete items by id; unknown ids are ignored. Returns how many were deleted."""
        self._require_writable()
        seq, rows = self._store.delete([str(i) for i in ids])
        if rows:
            self._keyword.apply(seq, {}, rows)
            self._vector.apply(seq, [], np.zeros((0, self._vector.dim), np.float32), rows)
            self._after_write(rows, [])
        return WriteResult(seq, len(rows))

    def _after_write(self, rows: Sequence[int], records: Sequence[Mapping[str, Any]]) -> None:
        """Bring in-memory filter columns up to date; `records` are the new
        versions of `rows` (empty for a delete)."""
        for name, column in self._columns.items():
            column.replace_rows(rows, [(r, rec[name]) for r, rec in zip(rows, records) if rec.get(name) is not None])
        self._masks.clear()
        self._size = max(self._size, max(rows) + 1)
        self._unsaved += len(rows)
        if self._unsaved >= _SNAPSHOT_EVERY:
            self._vector.save()
            self._unsaved = 0

    def _require_writable(self) -> None:
        if self.read_only:
            raise DataDirError(f"{self.data_dir} is open read-only (another process holds its write lock)")

    def _analyzed(self, record: Mapping[str, Any]) -> dict[str, str]:
        return {name: " ".join(self._analyzer.terms(str(record.get(name) or ""))) for name in TEXT_FIELDS}

    # -- reads ----------------------------------------------------------------
    def get(self, item_id: str) -> dict | None:
        return self._store.get(str(item_id))

    def __len__(self) -> int:
        return self._store.count()

    def search(
        self,
        query: str,
        *,
        mode: str | None = None,
        k: int = 10,
        filters: Any = None,
        fusion: str | None = None,
        rrf_k: float | None = None,
        keyword_weight: float | None = None,
        vector_weight: float | None = None,
        candidates: int | None = None,
        exact: bool = False,
        rerank: bool | None = None,
    ) -> SearchResponse:
        """Search the catalogue.

        mode: keyword | vector | hybrid; filters: CLI strings or a mapping (see
        index.filters); fusion, rrf_k and the weights override the configured
        defaults for this request; candidates is each leg's depth before
        fusion; exact=True makes the vector leg scan every allowed vector
        instead of the HNSW graph (slow, for measuring recall); rerank uses the
        learned ranker on hybrid candidates (default: when the data directory
        has one).
        """
        started = time.perf_counter()
        defaults = self.config.search
        mode = mode or defaults.mode
        fusion = fusion or defaults.fusion
        weights = (
            defaults.keyword_weight if keyword_weight is None else keyword_weight,
            defaults.vector_weight if vector_weight is None else vector_weight,
        )
        _validate(query, mode, k, fusion, weights, rrf_k)
        if rerank and self._ranker is None:
            raise InvalidRequest(self.ranker_problem or "no learned ranker here: train one with `shopsearch train-ranker`", "rerank")
        if rerank and mode != "hybrid":
            raise InvalidRequest("rerank needs mode=hybrid: the ranker reads both legs", "rerank")
        rerank = self._ranker is not None and mode == "hybrid" if rerank is None else rerank
        try:
            conditions = parse_filters(filters)
        except InvalidFilter as exc:
            raise InvalidRequest(str(exc), "filters") from None
        allowed = self._mask(conditions) if conditions else None
        depth = max(k, candidates or defaults.candidates) if mode == "hybrid" else k
        warnings: list[str] = []

        keyword_leg = vector_leg = None
        groups = self._analyzer.groups(query)
        if mode in ("keyword", "hybrid"):
            keyword_leg = self._keyword.search(groups, depth, allowed)
        embed_ms = 0.0
        if mode in ("vector", "hybrid"):
            t0 = time.perf_counter()
            try:
                query_vector = self._embedder.embed_queries([query])[0]
            except Exception as exc:  # the model is down: degrade, do not fail the shopper
                if mode == "vector":
                    raise
                log.warning("query embedding failed, answering by keyword only: %s", exc)
                warnings.append(f"vector leg skipped: embedding failed ({exc}); results are keyword-only")
                query_vector = None
            embed_ms = (time.perf_counter() - t0) * 1000
            if query_vector is not None:
                vector_leg = self._vector.search(query_vector, depth, allowed, exact=exact)

        legs = [leg for leg in (keyword_leg, vector_leg) if leg is not None]
        ranker_scores = None
        records = None
        if rerank and vector_leg is not None:
            fused_rows, cands = self._rerank_candidates(legs, weights, fusion, rrf_k or defaults.rrf_k, query_vector)
            records = dict(zip(cands.rows.tolist(), cands.records))
            ranker_scores = self._ranker.score(features(query, groups, cands, self._analyzer))
            order = np.argsort(-ranker_scores, kind="stable")
            # The reordered head, then the fused tail as it was, scored below the head.
            tail = fused_rows[defaults.rerank_depth :]
            floor = float(ranker_scores.min()) if len(ranker_scores) else 0.0
            fused_rows = np.concatenate([cands.rows[order], tail])
            fused_scores = np.concatenate([ranker_scores[order], floor - 1.0 - np.arange(len(tail)) / max(len(tail), 1)])
            ranker_scores = ranker_scores[order]
        elif len(legs) == 2:
            fused_rows, fused_scores = fuse(legs, weights, fusion, rrf_k or defaults.rrf_k)
        else:
            fused_rows, fused_scores = legs[0]
        fused_rows, fused_scores = fused_rows[:k], fused_scores[:k]
        hits = self._hits(query, groups, fused_rows, fused_scores, keyword_leg, vector_leg, records)
        if ranker_scores is not None:
            for hit, score in zip(hits, ranker_scores.tolist()):
                hit.explanation.ranker_score = score
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(query, mode, hits, took, embed_ms, warnings)

    def _rerank_candidates(self, legs, weights, fusion, rrf_k, query_vector) -> tuple[np.ndarray, Candidates]:
        """The fused list, and its head as the learned ranker sees it."""
        fused_rows = fuse(legs, weights, fusion, rrf_k)[0]
        head = fused_rows[: self.config.search.rerank_depth]
        records = self._store.records(head.tolist())
        rows = np.asarray([r for r in head.tolist() if r in records], dtype=np.int64)
        cands = Candidates(rows, [records[r] for r in rows.tolist()], legs[0], legs[1],
                           self._vector.similarity(query_vector, rows))
        return fused_rows, cands

    def ranking_features(self, query: str, depth: int | None = None) -> tuple[list[str], np.ndarray]:
        """(ids, feature matrix) of the head of one query's fused hybrid list: what the learned ranker sees."""
        settings = self.config.search
        depth = depth or settings.candidates
        groups = self._analyzer.groups(query)
        query_vector = self._embedder.embed_queries([query])[0]
        legs = [self._keyword.search(groups, depth), self._vector.search(query_vector, depth)]
        _, cands = self._rerank_candidates(
            legs, (settings.keyword_weight, settings.vector_weight), settings.fusion, settings.rrf_k, query_vector)
        return [r["id"] for r in cands.records], features(query, groups, cands, self._analyzer)

    def set_ranker(self, ranker: LearnedRanker | None, save: bool = True) -> None:
        """Use (and by default store in the data directory) a trained ranker."""
        if save and ranker is not None:
            self._require_writable()
            ranker.save(self.data_dir)
        self._ranker, self.ranker_problem = ranker, None

    def _hits(self, query, groups, rows, scores, keyword_leg, vector_leg, records=None) -> list[Hit]:
        if records is None or any(r not in records for r in rows.tolist()):
            records = self._store.records(rows.tolist())
        leg_info = []
        for leg in (keyword_leg, vector_leg):
            leg_info.append({} if leg is None else {int(r): (float(s), i + 1) for i, (r, s) in enumerate(zip(*leg))})
        tokens = surface_tokens(query)
        hits = []
        for row, score in zip(rows.tolist(), scores.tolist()):
            record = records.get(row)
            if record is None:  # deleted between the index search and this read
                continue
            explanation = Explanation(fused_score=float(score))
            if row in leg_info[0]:
                explanation.keyword_score, explanation.keyword_rank = leg_info[0][row]
            if row in leg_info[1]:
                explanation.vector_score, explanation.vector_rank = leg_info[1][row]
            explanation.matched_terms = self._matched_terms(tokens, groups, record)
            hits.append(Hit(record["id"], float(score), record, explanation))
        return hits

    def _matched_terms(self, tokens, groups, record) -> dict[str, list[str]]:
        matched = {}
        for name in TEXT_FIELDS:
            terms = self._analyzer.term_set(str(record.get(name) or ""))
            found = [tok for tok, group in zip(tokens, groups) if terms.intersection(group)]
            if found:
                matched[name] = list(dict.fromkeys(found))
        return matched

    def _mask(self, conditions) -> np.ndarray:
        key = tuple(conditions)
        mask = self._masks.get(key)
        if mask is None:
            mask = self._masks[key] = evaluate(conditions, self._column, self._size)
            if len(self._masks) > 64:
                self._masks.popitem(last=False)
        else:
            self._masks.move_to_end(key)
        return mask

    def _column(self, name: str) -> Column:
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = Column(self._store.field_values(name))
        return column

    def stats(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "items": self._store.count(),
            "model": {"name": self._embedder.name, "dim": self._embedder.dim},
            "keyword_index": {"docs": self._keyword.count(), "bytes": self._keyword.size_bytes()},
            "vector_index": {"vectors": self._vector.count(), "bytes": self._vector.size_bytes()},
            "catalogue_bytes": self._store.size_bytes(),
            "last_seq": self._store.last_seq(),
            "read_only": self.read_only,
            "ranker": None if self._ranker is None else self._ranker.meta.get("cv", "trained"),
        }


def _validate(query, mode, k, fusion, weights, rrf_k) -> None:
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequest("query must be a non-empty string", "query")
    if mode not in MODES:
        raise InvalidRequest(f"mode must be one of {', '.join(MODES)}, got {mode!r}", "mode")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be an integer from 1 to {MAX_K}, got {k!r}", "k")
    if fusion not in FUSIONS:
        raise InvalidRequest(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}", "fusion")
    if any(not np.isfinite(w) or w < 0 for w in weights):
        raise InvalidRequest(f"weights must be finite and non-negative, got {weights}", "weights")
    if rrf_k is not None and not rrf_k > 0:
        raise InvalidRequest(f"rrf_k must be positive, got {rrf_k}", "rrf_k")


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _check_model(store: CatalogueStore, embedder: Embedder, writable: bool) -> None:
    recorded = store.get_meta("model")
    current = {"name": embedder.name, "dim": embedder.dim}
    if recorded is None:
        if writable:
            store.set_meta("model", json.dumps(current))
        return
    recorded = json.loads(recorded)
    if recorded != current:
        raise DataDirError(
            f"this data directory was built with model {recorded['name']} ({recorded['dim']}-d); "
            f"the configured model is {current['name']} ({current['dim']}-d). Re-index into a new directory."
        )
