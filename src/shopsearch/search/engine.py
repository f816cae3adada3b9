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

from ..config import EngineConfig, ModelConfig
from ..index.chunks import ChunkIndex, merge_best
from ..index.filters import Column, InvalidFilter, evaluate, parse_filters
from ..index.items import Item, document_text
from ..index.keyword import TEXT_FIELDS, KeywordIndex
from ..index.keyword_tantivy import IncompatibleIndex, TantivyKeywordIndex
from ..index.store import CatalogueStore
from ..index.vector import VectorIndex
from ..index.vector_hnsw import HnswVectorIndex
from ..models import Embedder, ModelUnavailable, Reranker, create_embedder, create_reranker
from ..models.factory import builtin_for_model
from ..text import Analyzer, surface_tokens
from ..text.chunking import approximate_tokens, chunk_text
from ..text.highlight import highlight_spans
from .facets import facet_counts
from .fusion import FUSIONS, fuse
from .resilience import CircuitBreaker, ModelCallFailed
from .ranker import FEEDBACK_DEPTH, Candidates, LearnedRanker, features

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
    ranker_score: float | None = None  # the learned ranker's
    rerank_score: float | None = None  # the reranker model's relevance in [0, 1]
    rerank_rank: int | None = None
    matched_terms: dict[str, list[str]] = field(default_factory=dict)
    # Character spans [start, end) of the query's terms in the title and description, for <mark>.
    highlights: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


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
    timings: dict[str, float] = field(default_factory=dict)  # per stage, milliseconds
    facets: dict[str, list[dict[str, Any]]] | None = None

    @property
    def degraded(self) -> bool:
        """True when a stage was skipped because its model failed or timed out (see warnings)."""
        return bool(self.warnings)

    def degrade(self, reason: str) -> None:
        self.warnings.append(reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "mode": self.mode,
            "took_ms": round(self.took_ms, 3),
            "embed_ms": round(self.embed_ms, 3),
            "timings": {name: round(ms, 3) for name, ms in self.timings.items()},
            "degraded": self.degraded,
            "degraded_reason": "; ".join(self.warnings) or None,
            "warnings": self.warnings,
            "results": [h.to_dict() for h in self.hits],
            **({"facets": self.facets} if self.facets is not None else {}),
        }


@dataclass(frozen=True)
class WriteResult:
    seq: int
    count: int  # items in the batch, written or already stored as they are
    unchanged: int = 0  # of which already stored exactly so: not embedded or written again


class Engine:
    def __init__(
        self,
        data_dir: Path,
        config: EngineConfig,
        store: CatalogueStore,
        embedder: Embedder,
        keyword: KeywordIndex,
        vector: VectorIndex,
        chunks: ChunkIndex,
        lock_fd: int | None,
        reranker: Reranker | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.read_only = lock_fd is None
        self._store = store
        self._embedder = embedder
        self._reranker = reranker
        settings = config.search
        self._embed_breaker = CircuitBreaker("embedding model", settings.breaker_failures, settings.breaker_cooldown_s)
        self._rerank_breaker = CircuitBreaker("reranker", settings.breaker_failures, settings.breaker_cooldown_s)
        self._keyword = keyword
        self._vector = vector
        self._chunks = chunks
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
        reranker: Reranker | None = None,
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
        store = None
        try:
            store = CatalogueStore(db_path, read_only=lock_fd is None)
            if embedder is None:
                embedder = create_embedder(config.model, _recorded_builtin(store, config.model))
            _check_model(store, embedder, writable=lock_fd is not None)
            boosts = {
                "all": config.keyword.all_boost,
                "title": config.keyword.title_boost,
                "brand": config.keyword.brand_boost,
                "category": config.keyword.category_boost,
                "description": config.keyword.description_boost,
            }
            vector = _vector_index(data_dir / "vector", embedder.dim, config,
                                   analyzer=Analyzer(config.keyword.stem_languages))
            keyword = _keyword_index(data_dir, config, boosts, writable=lock_fd is not None, vector=vector)
            chunks = ChunkIndex(_vector_index(data_dir / "vector-chunks", embedder.dim, config, chunks=True),
                                store.chunk_rows())
            reranker = reranker or create_reranker(config.model)
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            if store is not None:
                store.close()
            raise
        engine = cls(data_dir, config, store, embedder, keyword, vector, chunks, lock_fd, reranker)
        engine._catch_up()
        return engine

    def close(self) -> None:
        if self._lock_fd is None:
            self._store.close()
            self._close_vectors()
            return
        if self._unsaved:
            self._save_vectors()
        self._keyword.close()
        self._store.close()
        self._close_vectors()
        os.close(self._lock_fd)
        self._lock_fd = None

    def _close_vectors(self) -> None:
        self._vector.close()
        self._chunks.close()

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
            live = [(row, vec, record) for row, deleted, record, vec in batch if not deleted]
            vectors = np.stack([v for _, v, _ in live]) if live else np.zeros((0, self._vector.dim), np.float32)
            self._vector.apply(seq, [r for r, _, _ in live], vectors, [row for row, deleted, *_ in batch if deleted],
                               [record for _, _, record in live])
            replayed += len(batch)
        for seq, batch in self._store.chunk_changes_since(self._chunks.applied_seq):
            self._chunks.apply(seq, batch)
            replayed += len(batch)
        if replayed and not self.read_only:
            self._save_vectors()

    def _save_vectors(self) -> None:
        self._vector.save()
        self._chunks.save()

    # -- writes ---------------------------------------------------------------
    def upsert(self, items: Iterable[Item | Mapping[str, Any]]) -> WriteResult:
        """Insert or replace items by id, as one committed batch.

        Items already stored exactly as given are skipped (not embedded again): re-running an
        interrupted `shopsearch index` resumes where the committed batches end, at the cost of
        reading them, and re-indexing an unchanged catalogue costs no model calls."""
        self._require_writable()
        latest: dict[str, Item] = {}
        for item in items:
            item = item if isinstance(item, Item) else Item.from_record(item)
            latest[item.id] = item  # the last version of an id within a batch wins
        stored = self._store.records_by_id(list(latest))
        batch = [item for item in latest.values() if stored.get(item.id) != item.to_record()]
        unchanged = len(latest) - len(batch)
        if not batch:
            return WriteResult(self._store.last_seq(), len(latest), unchanged)
        chunked = [self._chunk(item) for item in batch]
        texts = [item.embedding_text() for item in batch]
        texts += [chunk.embedding_text(item.title) for item, chunks in zip(batch, chunked) for chunk in chunks]
        # Embed before touching any file: a model failure leaves everything as it was.
        embedded = self._embedder.embed_documents(texts)
        vectors, chunk_vectors = embedded[: len(batch)], iter(embedded[len(batch) :])
        chunk_records = [[(c.heading, c.text, next(chunk_vectors)) for c in chunks] for chunks in chunked]
        seq, rows = self._store.upsert(batch, vectors, chunk_records)
        records = [item.to_record() for item in batch]
        self._keyword.apply(seq, {row: self._analyzed(record) for row, record in zip(rows, records)}, [])
        self._vector.apply(seq, rows, vectors, [], records)
        self._apply_chunks(seq)
        self._after_write(rows, records)
        return WriteResult(seq, len(rows) + unchanged, unchanged)

    def delete(self, ids: Iterable[str]) -> WriteResult:
        """Delete items by id; unknown ids are ignored. Returns how many were deleted."""
        self._require_writable()
        seq, rows = self._store.delete([str(i) for i in ids])
        if rows:
            self._keyword.apply(seq, {}, rows)
            self._vector.apply(seq, [], np.zeros((0, self._vector.dim), np.float32), rows)
            self._apply_chunks(seq)
            self._after_write(rows, [])
        return WriteResult(seq, len(rows))

    def _chunk(self, item: Item):
        """Heading-aware chunks of a description too long for one vector (none for short ones)."""
        limit = self.config.chunk_tokens
        if not limit or not item.description:
            return []
        limit = min(limit, max(getattr(self._embedder, "max_tokens", limit) - 32, 16))
        model_count = getattr(self._embedder, "count_tokens", None)
        count = (lambda text: model_count([text])[0]) if model_count else approximate_tokens
        if count(item.description) <= limit:
            return []
        return chunk_text(item.description, limit, count)

    def _apply_chunks(self, seq: int) -> None:
        for batch_seq, batch in self._store.chunk_changes_since(seq - 1):
            if batch_seq == seq:
                self._chunks.apply(seq, batch)

    def _vector_leg(self, query_vector, depth, allowed, exact=False,
                    where=None) -> tuple[tuple[np.ndarray, np.ndarray], dict[int, int]]:
        """The vector leg, each item scored by its best vector (its own or a chunk's); and which rows a chunk won."""
        leg = self._vector.search(query_vector, depth, allowed, exact=exact, where=where)
        if not self._chunks.count():
            return leg, {}
        return merge_best(leg, self._chunks.search(query_vector, depth, allowed, exact=exact), depth)

    def _after_write(self, rows: Sequence[int], records: Sequence[Mapping[str, Any]]) -> None:
        """Bring in-memory filter columns up to date; `records` are the new
        versions of `rows` (empty for a delete)."""
        for name, column in self._columns.items():
            column.replace_rows(rows, [(r, rec[name]) for r, rec in zip(rows, records) if rec.get(name) is not None])
        self._masks.clear()
        self._size = max(self._size, max(rows) + 1)
        self._unsaved += len(rows)
        if self._unsaved >= _SNAPSHOT_EVERY:
            self._save_vectors()
            self._unsaved = 0

    def _require_writable(self) -> None:
        if self.read_only:
            raise DataDirError(f"{self.data_dir} is open read-only (another process holds its write lock)")

    def _analyzed(self, record: Mapping[str, Any]) -> dict[str, str]:
        return analyzed_fields(self._analyzer, record)

    # -- reads ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def reranker(self) -> Reranker | None:
        return self._reranker

    @property
    def version(self) -> int:
        """The catalogue's last write sequence: changes whenever search results may."""
        return self._store.last_seq()

    def rerank_texts(self, query: str, documents: Sequence[str], instruction: str | None = None,
                     timeout_s: float | None = None) -> np.ndarray:
        """The configured reranker's scores for arbitrary texts, under its timeout and circuit breaker."""
        if self._reranker is None:
            raise InvalidRequest("no reranker is configured, so there is no rerank stage", "model")
        instruction = instruction or self.config.model.rerank_instruction
        return np.asarray(self._rerank_breaker.call(lambda: self._reranker.score(query, list(documents), instruction),
                                                    timeout_s or self.config.search.rerank_timeout_s), dtype=np.float32)

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
        offset: int = 0,
        filters: Any = None,
        fusion: str | None = None,
        rrf_k: float | None = None,
        keyword_weight: float | None = None,
        vector_weight: float | None = None,
        candidates: int | None = None,
        exact: bool = False,
        ranker: bool | None = None,
        rerank: bool | None = None,
        rerank_depth: int | None = None,
        rerank_instruction: str | None = None,
        timeout_s: float | None = None,
        facets: bool = False,
        explain: bool = True,
    ) -> SearchResponse:
        """Search the catalogue.

        mode: keyword | vector | hybrid; filters: CLI strings or a mapping (see
        index.filters); fusion, rrf_k and the weights override the configured
        defaults for this request; candidates is each leg's depth before
        fusion; exact=True makes the vector leg scan every allowed vector
        instead of the HNSW graph (slow, for measuring recall).
        Second stages, both on the head of the fused list: ranker = the learned
        ranker (default: when the data directory has one; hybrid only);
        rerank = the reranker model over the top rerank_depth results (default:
        when one is configured), timeout_s bounding its call. A model that
        fails or times out leaves the answer to what still works, marked degraded.
        facets=True also counts brands, categories and price bands over the
        ranked candidates (see search.facets). explain=False leaves out of each hit's
        explanation what costs work to find: matched terms, highlights, and the per-leg
        scores and ranks of hits the server fused (two more searches).

        With both legs on a Milvus collection that holds them together, a hybrid search
        fused by RRF with equal weights (and no learned ranker) is one `hybrid_search` on
        the server; otherwise the legs are fetched and fused here.
        """
        started = time.perf_counter()
        defaults = self.config.search
        mode = mode or defaults.mode
        fusion = fusion or defaults.fusion
        weights = (
            defaults.keyword_weight if keyword_weight is None else keyword_weight,
            defaults.vector_weight if vector_weight is None else vector_weight,
        )
        rerank_depth = defaults.rerank_depth if rerank_depth is None else rerank_depth
        _validate(query, mode, k, fusion, weights, rrf_k)
        _validate_paging(offset, rerank_depth)
        if ranker and self._ranker is None:
            raise InvalidRequest(self.ranker_problem or "no learned ranker here: train one with `shopsearch train-ranker`", "ranker")
        if ranker and mode != "hybrid":
            raise InvalidRequest("the learned ranker needs mode=hybrid: it reads both legs", "ranker")
        if rerank and self._reranker is None:
            raise InvalidRequest("no reranker is configured, so there is no rerank stage: set --rerank-model "
                                 "(or SHOPSEARCH_MODEL__RERANKER) to a reranker such as qwen3:Qwen/Qwen3-Reranker-0.6B", "rerank")
        ranker = self._ranker is not None and mode == "hybrid" if ranker is None else ranker
        rerank = self._reranker is not None if rerank is None else rerank
        try:
            conditions = parse_filters(filters)
        except InvalidFilter as exc:
            raise InvalidRequest(str(exc), "filters") from None
        allowed = self._mask(conditions) if conditions else None
        wanted = offset + k
        depth = max(wanted, candidates or defaults.candidates) if mode == "hybrid" or facets else wanted
        if rerank:
            depth = max(depth, min(rerank_depth, MAX_K))
        response = SearchResponse(query, mode, [], 0.0)
        timings = response.timings

        keyword_leg = vector_leg = query_vector = server_fused = None
        best_chunks: dict[int, int] = {}
        groups = self._analyzer.groups(query)
        rrf_k = rrf_k or defaults.rrf_k
        if mode in ("vector", "hybrid"):
            query_vector = self._embed_query(query, mode, response)
        fused_search = getattr(self._keyword, "fused_search", None)  # both legs in one server collection
        server_can_fuse = (mode == "hybrid" and fusion == "rrf" and weights[0] == weights[1] > 0 and not ranker
                           and not exact and not self._chunks.count())
        if fused_search is not None and defaults.server_fusion and server_can_fuse and query_vector is not None:
            t0 = time.perf_counter()
            server_fused = fused_search(groups, query_vector, depth, rrf_k, allowed, conditions or None)
            if server_fused is not None:
                timings["server_fusion_ms"] = (time.perf_counter() - t0) * 1000
        if server_fused is None and mode in ("keyword", "hybrid"):
            t0 = time.perf_counter()
            keyword_leg = self._keyword.search(groups, depth, allowed)
            timings["keyword_ms"] = (time.perf_counter() - t0) * 1000
        if server_fused is None and query_vector is not None:
            t0 = time.perf_counter()
            vector_leg, best_chunks = self._vector_leg(query_vector, depth, allowed, exact,
                                                       conditions if conditions else None)
            timings["vector_ms"] = (time.perf_counter() - t0) * 1000

        legs = [leg for leg in (keyword_leg, vector_leg) if leg is not None]
        ranker_scores = None
        records: dict[int, dict] | None = None
        t0 = time.perf_counter()
        if server_fused is not None:
            # The server's RRF is unweighted; the local one with two equal weights w is w times it.
            fused_rows, fused_scores = server_fused[0], server_fused[1] * weights[0]
        elif ranker and vector_leg is not None:
            fused_rows, cands = self._rerank_candidates(legs, weights, fusion, rrf_k, query_vector)
            records = dict(zip(cands.rows.tolist(), cands.records))
            ranker_scores = self._ranker.score(features(query, groups, cands, self._analyzer))
            fused_rows, fused_scores, order = _reorder_head(fused_rows, cands.rows, ranker_scores)
            ranker_scores = dict(zip(cands.rows[order].tolist(), ranker_scores[order].tolist()))
            timings["ranker_ms"] = (time.perf_counter() - t0) * 1000
        elif ranker:
            response.degrade("learned ranker skipped: it needs the vector leg")
            fused_rows, fused_scores = legs[0]
        elif len(legs) == 2:
            fused_rows, fused_scores = fuse(legs, weights, fusion, rrf_k)
            timings["fuse_ms"] = (time.perf_counter() - t0) * 1000
        else:
            fused_rows, fused_scores = legs[0]

        rerank_scores = None
        if rerank and len(fused_rows):
            t0 = time.perf_counter()
            head = fused_rows[:rerank_depth]
            known = records is not None and all(r in records for r in head.tolist())
            head_records = records if known else self._store.records(head.tolist())
            head = np.asarray([r for r in head.tolist() if r in head_records], dtype=np.int64)
            texts = self._rerank_texts(head.tolist(), head_records, best_chunks)
            try:
                scores = self.rerank_texts(query, texts, rerank_instruction, timeout_s)
            except ModelCallFailed as exc:
                log.warning("rerank failed, answering with the first stage's order: %s", exc)
                response.degrade(f"rerank skipped: {exc}; results are in first-stage order")
            else:
                fused_rows, fused_scores, order = _reorder_head(fused_rows, head, scores)
                rerank_scores = {row: (score, rank) for rank, (row, score) in
                                 enumerate(zip(head[order].tolist(), scores[order].tolist()), start=1)}
                records = head_records
            timings["rerank_ms"] = (time.perf_counter() - t0) * 1000

        if facets:
            t0 = time.perf_counter()
            counted = fused_rows[:depth].tolist()
            known = records if records is not None and all(r in records for r in counted) else self._store.records(counted)
            response.facets = facet_counts(known.values())
            records = known
            timings["facets_ms"] = (time.perf_counter() - t0) * 1000
        page_rows, page_scores = fused_rows[offset:wanted], fused_scores[offset:wanted]
        if server_fused is not None and explain:
            # The server answers fused scores only; each leg's score and rank come from the same
            # two searches it ran, asked separately (the ranking stays the server's).
            t0 = time.perf_counter()
            keyword_leg = self._keyword.search(groups, depth, allowed)
            vector_leg = self._vector_leg(query_vector, depth, allowed, False, conditions or None)[0]
            timings["explain_ms"] = (time.perf_counter() - t0) * 1000
        response.hits = self._hits(query, groups, page_rows, page_scores, keyword_leg, vector_leg, records,
                                   ranker_scores, rerank_scores, explain)
        response.took_ms = (time.perf_counter() - started) * 1000
        return response

    def _rerank_texts(self, rows, records, best_chunks) -> list[str]:
        """What the reranker reads per product; for a long description, the chunk that matched best."""
        chunk_text_of = self._store.chunk_texts([best_chunks[r] for r in rows if r in best_chunks])
        texts = []
        for row in rows:
            record = records[row]
            chunk = chunk_text_of.get(best_chunks.get(row, -1))
            if chunk is not None:
                record = {**record, "description": ": ".join(part for part in chunk if part)}
            texts.append(document_text(record))
        return texts

    def _rerank_candidates(self, legs, weights, fusion, rrf_k, query_vector) -> tuple[np.ndarray, Candidates]:
        """The fused list, and its head as the learned ranker sees it."""
        fused_rows = fuse(legs, weights, fusion, rrf_k)[0]
        head = fused_rows[: self.config.search.rerank_depth]
        records = self._store.records(head.tolist())
        rows = np.asarray([r for r in head.tolist() if r in records], dtype=np.int64)
        feedback = self._vector.centroid(legs[0][0][:FEEDBACK_DEPTH])
        cands = Candidates(rows, [records[r] for r in rows.tolist()], legs[0], legs[1],
                           self._vector.similarity(query_vector, rows), self._vector.similarity(feedback, rows))
        return fused_rows, cands

    def ranking_features(self, query: str, depth: int | None = None) -> tuple[list[str], np.ndarray]:
        """(ids, feature matrix) of the head of one query's fused hybrid list: what the learned ranker sees."""
        settings = self.config.search
        depth = depth or settings.candidates
        groups = self._analyzer.groups(query)
        query_vector = self._embedder.embed_queries([query])[0]
        legs = [self._keyword.search(groups, depth), self._vector_leg(query_vector, depth, None)[0]]
        _, cands = self._rerank_candidates(
            legs, (settings.keyword_weight, settings.vector_weight), settings.fusion, settings.rrf_k, query_vector)
        return [r["id"] for r in cands.records], features(query, groups, cands, self._analyzer)

    def set_ranker(self, ranker: LearnedRanker | None, save: bool = True) -> None:
        """Use (and by default store in the data directory) a trained ranker."""
        if save and ranker is not None:
            self._require_writable()
            ranker.save(self.data_dir)
        self._ranker, self.ranker_problem = ranker, None

    def _embed_query(self, query: str, mode: str, response: SearchResponse) -> np.ndarray | None:
        """The query's vector; None when the model failed and the keyword leg can still answer."""
        t0 = time.perf_counter()
        try:
            return self._embed_breaker.call(lambda: self._embedder.embed_queries([query])[0],
                                            self.config.search.embed_timeout_s)
        except ModelCallFailed as exc:  # the model is down: degrade, do not fail the shopper
            if mode == "vector":
                raise
            log.warning("query embedding failed, answering by keyword only: %s", exc)
            response.degrade(f"vector leg skipped: {exc}; results are keyword-only")
            return None
        finally:
            response.timings["embed_ms"] = response.embed_ms = (time.perf_counter() - t0) * 1000

    def _hits(self, query, groups, rows, scores, keyword_leg, vector_leg, records=None,
              ranker_scores=None, rerank_scores=None, explain=True) -> list[Hit]:
        if records is None or any(r not in records for r in rows.tolist()):
            records = self._store.records(rows.tolist())
        leg_info = [{} if leg is None else {int(r): (float(s), i + 1) for i, (r, s) in enumerate(zip(*leg))}
                    for leg in (keyword_leg, vector_leg)]
        tokens = surface_tokens(query)
        query_terms = {term for group in groups for term in group}
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
            if ranker_scores and row in ranker_scores:
                explanation.ranker_score = ranker_scores[row]
            if rerank_scores and row in rerank_scores:
                explanation.rerank_score, explanation.rerank_rank = rerank_scores[row]
            if not explain:
                hits.append(Hit(record["id"], float(score), record, explanation))
                continue
            explanation.matched_terms = self._matched_terms(tokens, groups, record)
            for name in ("title", "description"):
                spans = highlight_spans(str(record.get(name) or ""), query_terms, self._analyzer)
                if spans:
                    explanation.highlights[name] = spans
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
            "chunk_index": {"chunks": self._chunks.count(), "bytes": self._chunks.size_bytes()},
            "catalogue_bytes": self._store.size_bytes(),
            "last_seq": self._store.last_seq(),
            "read_only": self.read_only,
            "ranker": None if self._ranker is None else self._ranker.meta.get("cv", "trained"),
            "reranker": None if self._reranker is None else {"name": self._reranker.name, "breaker": self._rerank_breaker.state},
        }


def analyzed_fields(analyzer: Analyzer, record: Mapping[str, Any]) -> dict[str, str]:
    """What the keyword leg indexes of a product: each text field as its space-joined terms."""
    return {name: " ".join(analyzer.terms(str(record.get(name) or ""))) for name in TEXT_FIELDS}


def _vector_index(path: Path, dim: int, config: EngineConfig, chunks: bool = False,
                  analyzer: Analyzer | None = None) -> VectorIndex:
    """The items' vector index, or with chunks=True the chunk vectors' (a second collection on Milvus,
    filtered by the engine's chunk masks, so it carries no filter fields). On Milvus with the
    keyword leg there too, the items' collection also holds their text for the server's BM25."""
    if config.vector.backend == "hnsw":
        return HnswVectorIndex(path, dim, config.vector)
    if config.vector.backend == "milvus":
        from ..index.milvus import BM25Unsupported, bm25_document
        from ..index.vector_milvus import MilvusVectorIndex

        collection = config.vector.collection + ("_chunks" if chunks else "")
        text_of = None if chunks or analyzer is None else (lambda record: bm25_document(analyzed_fields(analyzer, record)))
        try:
            return MilvusVectorIndex(path, dim, config.vector, collection, filter_fields=not chunks, text_of=text_of,
                                     bm25=text_of is not None and config.keyword.backend == "milvus")
        except BM25Unsupported as exc:
            raise DataDirError(str(exc)) from None
    raise ValueError(f"vector backend must be hnsw or milvus, got {config.vector.backend!r}")


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


def _validate_paging(offset, rerank_depth) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_K:
        raise InvalidRequest(f"offset must be an integer from 0 to {MAX_K}, got {offset!r}", "offset")
    if isinstance(rerank_depth, bool) or not isinstance(rerank_depth, int) or not 1 <= rerank_depth <= MAX_K:
        raise InvalidRequest(f"rerank_depth must be an integer from 1 to {MAX_K}, got {rerank_depth!r}", "rerank_depth")


def _reorder_head(fused_rows: np.ndarray, head_rows: np.ndarray, head_scores: np.ndarray):
    """The head reordered by a second stage's scores, then the rest of the fused list as it was,
    scored below the head so that scores still fall down the list."""
    order = np.argsort(-head_scores, kind="stable")
    tail = fused_rows[~np.isin(fused_rows, head_rows)]
    floor = float(head_scores.min()) if len(head_scores) else 0.0
    rows = np.concatenate([head_rows[order], tail])
    scores = np.concatenate([head_scores[order], floor - 1.0 - np.arange(len(tail)) / max(len(tail), 1)])
    return rows, scores, order


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _keyword_index(data_dir: Path, config: EngineConfig, boosts: dict[str, float], writable: bool,
                   vector: VectorIndex) -> KeywordIndex:
    if config.keyword.backend == "milvus":
        from ..index.keyword_milvus import MilvusKeywordIndex, SharedMilvusKeywordIndex
        from ..index.milvus import BM25Unsupported

        if config.vector.backend != "milvus":
            raise ValueError("keyword backend milvus needs the vector leg on Milvus too (SHOPSEARCH_VECTOR__BACKEND=milvus)")
        if getattr(vector, "has_text", False):
            return SharedMilvusKeywordIndex(vector)
        # A vector collection created before it held the text: BM25 in a collection of its own.
        try:
            return MilvusKeywordIndex(data_dir / "keyword-milvus", config.vector.uri, config.vector.collection + "_text")
        except BM25Unsupported as exc:
            raise DataDirError(str(exc)) from None
    if config.keyword.backend != "tantivy":
        raise ValueError(f"keyword backend must be tantivy or milvus, got {config.keyword.backend!r}")
    try:
        return TantivyKeywordIndex(data_dir / "keyword", boosts, writable=writable)
    except IncompatibleIndex as exc:
        raise DataDirError(str(exc)) from None


def _recorded_builtin(store: CatalogueStore, config: ModelConfig) -> str | None:
    """Under the "default" model, a directory built with another built-in model keeps using it
    (the default changed from USE to e5-small; older directories stay searchable)."""
    recorded = store.get_meta("model")
    if config.embedder != "default" or recorded is None:
        return None
    return builtin_for_model(json.loads(recorded)["name"])


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
