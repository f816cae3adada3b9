"""What the stages of a search use besides the candidates: the indexes, the models, their guards."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

import numpy as np

from ..config import EngineConfig
from ..errors import IndexUnavailable, InvalidRequest
from ..index.backends import Backends
from ..index.terms import CatalogueTerms
from ..models import Reranker
from ..text import Analyzer
from ..text.glossaries import glossary
from .candidates import Candidates, QueryEmbedder
from .plan import Abilities
from .ranker import LearnedRanker
from .resilience import CircuitBreaker, ModelCallFailed
from .rules import RuleSet

T = TypeVar("T")
log = logging.getLogger(__name__)
TERMS_REFRESH_S = 30.0


@dataclass
class SearchContext:
    backends: Backends
    config: EngineConfig
    reranker: Reranker | None = None
    ranker: LearnedRanker | None = None
    ranker_problem: str | None = None  # why the data directory's ranker is not used
    embed_breaker: CircuitBreaker = field(init=False)
    rerank_breaker: CircuitBreaker = field(init=False)
    vector_breaker: CircuitBreaker = field(init=False)  # a vector index on a server (Milvus)
    ranker_lock: threading.Lock = field(default_factory=threading.Lock)
    rules: RuleSet = field(default_factory=RuleSet)  # the merchandising rules in force (search/merchandising.py)
    _terms: tuple[tuple, CatalogueTerms, float] | None = field(default=None, init=False)
    _terms_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _terms_retry: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        settings = self.config.search
        self.embed_breaker = CircuitBreaker("embedding model", settings.breaker_failures, settings.breaker_cooldown_s)
        self.rerank_breaker = CircuitBreaker("reranker", settings.breaker_failures, settings.breaker_cooldown_s)
        self.vector_breaker = CircuitBreaker("vector index", settings.breaker_failures, settings.breaker_cooldown_s)

    @property
    def analyzer(self) -> Analyzer:
        return self.backends.analyzer

    @property
    def abilities(self) -> Abilities:
        return Abilities(ranker=self.ranker is not None, ranker_problem=self.ranker_problem,
                         reranker=self.reranker is not None, understand=self.config.understand.enabled,
                         translate=self.config.understand.translate,
                         sortable=self.backends.columns.can_sort)

    def embed_query(self, query: str, embed: QueryEmbedder | None = None) -> np.ndarray:
        """The query's vector from the engine's model, or from `embed` (the server's batcher and cache),
        under the embedding timeout and circuit breaker."""
        timeout = self.config.search.embed_timeout_s
        if embed is not None:
            return self.embed_breaker.call(lambda: embed(query, timeout), timeout, times_itself=True)
        model = self.backends.embedder
        return self.embed_breaker.call(lambda: model.embed_queries([query])[0], timeout)

    def embed_words(self, words: list[str]) -> np.ndarray:
        """Query words' vectors (translation), under the embedding timeout and circuit breaker."""
        model = self.backends.embedder
        return self.embed_breaker.call(lambda: model.embed_queries(words), self.config.search.embed_timeout_s)

    def glossary(self, source: str, target: str) -> dict[str, list[str]]:
        """The bilingual lexicon from `source` words into `target` ones (text/glossaries.py); {} without one."""
        return glossary(source, target)

    def read_vectors(self, read: Callable[[], T]) -> T:
        """What `read` gets from the vector index; on a server, under its circuit breaker (the client times
        each call itself: VectorConfig.timeout_s), and IndexUnavailable when the server fails."""
        if not self.backends.remote:
            return read()
        try:
            return self.vector_breaker.call(read, self.config.vector.timeout_s, times_itself=True)
        except ModelCallFailed as exc:
            raise IndexUnavailable(str(exc)) from exc

    def rerank(self, query: str, documents: Sequence[str], instruction: str | None = None,
               timeout_s: float | None = None) -> np.ndarray:
        """The reranker's scores for any texts, under its timeout and circuit breaker."""
        reranker = self.reranker
        if reranker is None:
            raise InvalidRequest("no reranker is configured, so there is no rerank stage", "model")
        instruction = instruction or self.config.model.rerank_instruction
        scores = self.rerank_breaker.call(lambda: reranker.score(query, list(documents), instruction),
                                          timeout_s or self.config.search.rerank_timeout_s)
        return np.asarray(scores, dtype=np.float32)

    def terms(self) -> CatalogueTerms | None:
        """The catalogue's frequent words embedded with the model (index/terms.py): built on first use,
        then again when the vocabulary or the model changed (at most every TERMS_REFRESH_S; only new
        words are embedded, the writer saving them in the data directory for the next open). None while
        the model cannot embed them (tried again after TERMS_REFRESH_S)."""
        lexicon, embedder = self.backends.lexicon(), self.backends.embedder
        with self._terms_lock:
            terms, now = self._terms, time.monotonic()
            current = (id(lexicon), lexicon.seq, embedder.name)
            stale = terms is None or terms[0][2] != embedder.name or (
                terms[0][:2] != current[:2] and now - terms[2] >= TERMS_REFRESH_S)
            if stale and now >= self._terms_retry:
                same_model = terms[1] if terms is not None and terms[0][2] == embedder.name else None
                try:
                    built = CatalogueTerms.build(lexicon.words.counts(), embedder, self.backends.data_dir / "terms",
                                                 self.config.understand.translate_min_count,
                                                 save=not self.backends.read_only, previous=same_model)
                except Exception as exc:  # noqa: BLE001 - the model is down: translate by the lexicon alone
                    log.warning("catalogue terms not embedded (%s); translating by lexicon only for now", exc)
                    self._terms_retry = now + TERMS_REFRESH_S
                    return terms[1] if same_model is not None and terms is not None else None
                self._terms = terms = (current, built, now)
        return terms[1] if terms is not None else None

    def records(self, candidates: Candidates, rows: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The records of `rows` (deleted ones left out), read from the catalogue once per search."""
        missing = [r for r in rows if r not in candidates.records]
        if missing:
            candidates.records.update(self.backends.store.records(missing))
        return {r: candidates.records[r] for r in rows if r in candidates.records}
