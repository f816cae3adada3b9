"""The engine: one data directory, searched by keyword, vector or both, with filters.

A facade: opening and closing the data directory is index/backends.py's work, a search is a
plan run through the stages of search/pipeline.py, and the answers are search/response.py's.
An engine may be shared by threads: searches run concurrently with each other and with a
write (which keeps readers out only while it swaps in new index state).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from ..config import EngineConfig
from ..errors import DataDirError, InvalidRequest
from ..index.backends import Backends
from ..index.factory import recorded_model_spec
from ..index.follow import Follower
from ..index.items import Item
from ..index.migration import VectorSet, swap as swap_vectors
from ..models import Embedder, ModelUnavailable, Reranker, create_reranker
from ..text.suggest import Suggestion
from ..text.suggest.popular import merge as merge_suggestions
from ..text.synonyms import SynonymRule, SynonymSet
from . import merchandising, pipeline, writing
from .candidates import QueryEmbedder
from .context import SearchContext
from .plan import MAX_K, MODES, SearchPlan
from .popular import PopularQueries
from .ranker import LearnedRanker
from .response import Explanation, Hit, SearchResponse, WriteResult
from .rules import RuleSet
from .similar import similar
from .stages.ranker import head_features

if TYPE_CHECKING:
    from ..behaviour import EventStore

__all__ = ["Engine", "DataDirError", "InvalidRequest", "SearchResponse", "Hit", "Explanation", "WriteResult",
           "MODES", "MAX_K"]

log = logging.getLogger(__name__)
EVENTS_FILE = "events.sqlite"  # the data directory's search log and events (see behaviour/)


class Engine:
    def __init__(self, backends: Backends, reranker: Reranker | None = None, events: EventStore | None = None) -> None:
        self._backends: Backends | None = backends
        self.data_dir = backends.data_dir
        self.config = backends.config
        self._context = SearchContext(backends, backends.config, reranker)
        self._context.rules = merchandising.load(backends)
        self._follower: Follower | None = None
        if backends.read_only and backends.config.follow_interval_s > 0:
            # A replica: the writer's batches, synonyms and rules show up here without a restart.
            backends.settings_changed.append(lambda: setattr(self._context, "rules", merchandising.load(backends)))
            self._follower = Follower(backends, backends.config.follow_interval_s)
        self._events = events  # None: the data directory's own, opened on first use
        self._events_lock = threading.Lock()
        self.documents_embedded = 0  # texts this engine's writes sent to the model (items and chunks)
        understand = backends.config.understand
        self._popular = PopularQueries(self._search_log, understand.popular_days, understand.popular_min_searches,
                                       understand.popular_min_clicked)
        try:
            self._context.ranker = LearnedRanker.load(backends.data_dir)
        except (ValueError, ModelUnavailable) as exc:
            # Search still works without the second stage; say why it is off.
            self._context.ranker_problem = str(exc)
            log.warning("learned ranker not used: %s", exc)

    # -- lifecycle ------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: str | Path, config: EngineConfig | None = None, *, read_only: bool = False,
             create: bool = True, embedder: Embedder | None = None, reranker: Reranker | None = None,
             events: EventStore | None = None) -> "Engine":
        """Open (or create) a data directory. The first process to open it for writing holds its lock; a later
        one falls back to reading (and follows the writer's batches). Opening for writing first replays into the
        indexes what the catalogue committed that they had not applied (after a crash, say).
        events: where the search log and shoppers' events go (default: events.sqlite in the data directory)."""
        config = config or EngineConfig.from_env()
        reranker = reranker or create_reranker(config.model)  # a bad reranker fails before anything opens
        return cls(Backends.open(data_dir, config, read_only=read_only, create=create, embedder=embedder), reranker, events)

    def close(self) -> None:
        """Save and release everything; closing twice is harmless."""
        if self._follower is not None:
            self._follower.stop()  # first: it applies batches into the indexes closed below
        self._popular.close()  # a refresh in flight reads the search log, closed next
        if self._events is not None:
            events, self._events = self._events, None
            events.close()
        if self._backends is not None:
            backends, self._backends = self._backends, None
            backends.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def read_only(self) -> bool:
        return self.backends.read_only

    @property
    def backends(self) -> Backends:  # the open directory's parts (index/backends.py)
        if self._backends is None:
            raise DataDirError(f"{self.data_dir} is closed")
        return self._backends

    # -- writes ---------------------------------------------------------------
    def upsert(self, items: Iterable[Item | Mapping[str, Any]]) -> WriteResult:
        """Insert or replace items by id, as one committed batch; items stored exactly as given are skipped
        and an item whose model-read text is unchanged keeps its vector (see search/writing.py)."""
        result, embedded = writing.upsert(self._writable(), items, self.config.chunk_tokens)
        self.documents_embedded += embedded
        return result

    def patch(self, item_id: str, fields: Mapping[str, Any]) -> WriteResult | None:
        """Change some fields of a stored item (a JSON merge patch: a null removes the field); None when
        there is no such item. Only a change to the text the model reads embeds it again."""
        merged = writing.patched(self._writable().store.get(str(item_id)), str(item_id), fields)
        return None if merged is None else self.upsert([merged])

    def snapshot(self, out: str | Path) -> dict[str, Any]:
        """Copy the data directory into the new directory `out` (see index/snapshot.py): its manifest."""
        from ..index.snapshot import snapshot_of

        return snapshot_of(self.backends, out)

    def delete(self, ids: Iterable[str]) -> WriteResult:
        """Delete items by id; unknown ids are ignored. Returns how many were deleted."""
        return writing.delete(self._writable(), ids)

    def _writable(self) -> Backends:
        backends = self.backends
        if backends.read_only:
            raise DataDirError(f"{self.data_dir} is open read-only (another process holds its write lock)")
        return backends

    def set_ranker(self, ranker: LearnedRanker | None, save: bool = True) -> None:
        """Use (and by default store in the data directory) a trained ranker; the version changes with it."""
        backends = self.backends
        if save and ranker is not None:
            self._writable()
            ranker.save(self.data_dir)
        self._context.ranker, self._context.ranker_problem = ranker, None
        # After the swap: a search reading the new version must find the new ranker (or a cached answer lies).
        backends.answers_changed(persist=save)

    # -- model migration (index/migration.py, search/migration.py) ------------------
    def vector_set(self) -> VectorSet | None:  # a migration's candidate, or the previous model's (rollback)
        return VectorSet.open(self.data_dir, self.backends.store.get_meta("model"))

    def swap_model(self, vectors: VectorSet, embedder: Embedder) -> VectorSet:
        """Swap in another model's vectors (a last catch-up first, writes held): the previous model's set."""
        backends = self._writable()
        live_spec = recorded_model_spec(backends.store, self.config.model) or self.config.model.embedder
        with backends.writer:
            return swap_vectors(backends, vectors, embedder, live_spec)

    # -- reads ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        return self.backends.embedder

    @property
    def reranker(self) -> Reranker | None:
        return self._context.reranker

    @property
    def ranker(self) -> LearnedRanker | None:
        """The learned ranker hybrid search uses by default; None: the fused order stands."""
        return self._context.ranker

    def model_states(self) -> dict[str, str | None]:
        """Each model's circuit breaker, and the vector server's (Milvus): closed, open, half-open or None."""
        context = self._context
        return {"embedding": context.embed_breaker.state,
                "reranker": context.rerank_breaker.state if context.reranker is not None else None,
                "vector_index": context.vector_breaker.state if self.backends.remote else None}

    @property
    def ranker_problem(self) -> str | None:
        return self._context.ranker_problem

    @property
    def version(self) -> int:
        """Changes whenever search results may: the write sequence plus the version of the synonyms, rules and
        ranker, plus how many rules' start and end times have passed (each only grows, so the sum does too)."""
        backends = self.backends
        # A replica's indexes hold what it has followed, which may trail what the catalogue has committed.
        seq = backends.followed_seq if backends.read_only else backends.store.last_seq()
        return seq + backends.rules_version + self._context.rules.boundaries_passed(time.time())

    @property
    def events(self) -> EventStore:
        """The search log and shoppers' events (events.sqlite in the data directory), opened on first use."""
        _ = self.backends  # DataDirError once closed
        if self._events is None:
            with self._events_lock:
                if self._events is None:
                    from ..behaviour import SqliteEventStore

                    self._events = SqliteEventStore(self.data_dir / EVENTS_FILE, self.config.event_retention_days)
        return self._events

    def _search_log(self) -> EventStore | None:  # popular suggestions read it and must not create it
        if self._backends is None or (self._events is None and not (self.data_dir / EVENTS_FILE).exists()):
            return None
        return self.events

    # -- query understanding's data -----------------------------------------------
    @property
    def synonyms(self) -> SynonymSet:
        return self.backends.synonyms

    def set_synonyms(self, rules: Sequence[SynonymRule]) -> SynonymSet:
        """Replace the managed synonyms (see text/synonyms.py; parse a file with parse_synonyms)."""
        return self._writable().set_synonyms(rules)

    # -- merchandising rules (search/merchandising.py) ------------------------------
    @property
    def rules(self) -> RuleSet:
        return self._context.rules

    def set_rules(self, written: Any) -> RuleSet:
        """Replace every merchandising rule (rules as written: see search/rules.py); all or nothing."""
        return merchandising.replace_all(self._writable(), self._context, written)

    def delete_rule(self, rule_id: str) -> bool:
        return merchandising.delete(self._writable(), self._context, rule_id)

    def preview_rules(self, query: str, written: Any, **request: Any) -> tuple[SearchResponse, SearchResponse]:
        """One search answered by the rules in force and by the rules `written` (nothing is stored)."""
        now, draft = merchandising.draft_plans(self.backends, self._context, self.plan(query, **request), written)
        return pipeline.search(now, self._context), pipeline.search(draft, self._context)

    def suggest(self, prefix: str, k: int = 8) -> list[Suggestion]:
        """Completions of a prefix from the catalogue's titles, brands and categories and the shop's popular
        searches (held in memory: see search/popular.py)."""
        catalogue = self.backends.lexicon().suggestions.complete(prefix, k)
        popular = self._popular.current()
        return merge_suggestions(catalogue, popular.complete(prefix, k), k) if popular is not None else catalogue

    def refresh_popular(self, wait: bool = True) -> None:
        """Read the popular searches from the search log now (wait=False: on a background thread)."""
        self._popular.refresh(wait)

    def get(self, item_id: str) -> dict | None:
        return self.backends.store.get(str(item_id))

    def __len__(self) -> int:
        return self.backends.store.count()

    def plan(self, query: str, **request: Any) -> SearchPlan:
        """The validated plan of a search (see SearchPlan.build for the request's keys)."""
        return SearchPlan.build(query, self.config.search, self._context.abilities, **request)

    def search(self, query: str, *, embed_query: QueryEmbedder | None = None, **request: Any) -> SearchResponse:
        """Search the catalogue: the request's keys are SearchPlan.build's (mode, filters, fusion and weights,
        candidates, exact, ranker, rerank and their depths, timeout_s, facets, explain, sort, paging, rules...).
        A model that fails or times out leaves the answer to what still works, marked degraded.
        embed_query: a function giving the query's vector (the server's batched, cached embedding) in place
        of the engine's model."""
        _ = self.backends  # DataDirError once closed
        return pipeline.search(self.plan(query, **request), self._context, embed_query)

    def similar(self, item_id: str, k: int = 10, filters: Any = None, same_category: bool = False) -> SearchResponse | None:
        """The k items nearest to one item by its own vector, itself left out, inside the filters; same_category:
        its category's products first. None when there is no such item. See search/similar.py."""
        _ = self.backends  # DataDirError once closed
        return similar(self._context, str(item_id), k, filters, same_category)

    def rerank_texts(self, query: str, documents: Sequence[str], instruction: str | None = None,
                     timeout_s: float | None = None) -> np.ndarray:
        """The configured reranker's scores for arbitrary texts, under its timeout and circuit breaker."""
        return self._context.rerank(query, documents, instruction, timeout_s)

    def ranking_features(self, query: str, depth: int | None = None) -> tuple[list[str], np.ndarray]:
        """(ids, feature matrix) of the head of one query's fused hybrid list: what the learned ranker sees."""
        depth = depth or self.config.search.candidates
        plan = self.plan(query, mode="hybrid", ranker=False, rerank=False, candidates=depth, explain=False)
        return head_features(pipeline.run(plan, self._context, until="fuse"), self._context, self.config.search.ranker_depth)

    def stats(self) -> dict[str, Any]:
        context, vectors = self._context, self.vector_set()
        return {
            **self.backends.stats(),
            "migration": None if vectors is None else {"model": vectors.model, "role": vectors.role, "seq": vectors.seq},
            "ranker": None if context.ranker is None else context.ranker.meta.get("cv", "trained"),
            "reranker": None if context.reranker is None else {"name": context.reranker.name,
                                                               "breaker": context.rerank_breaker.state},
        }
