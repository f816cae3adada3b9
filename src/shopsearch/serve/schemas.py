"""Request and response bodies: OpenAI's embeddings shape, Cohere/Jina's rerank shape, and the search API."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: Union[str, list[str], list[int], list[list[int]]]
    model: str = "default"
    dimensions: int | None = Field(default=None, ge=1)
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None
    # Extension: queries get the model's query instruction; OpenAI's API has no such notion.
    input_type: Literal["query", "document"] = "document"


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: Union[list[float], str]


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: Usage


class RerankDocument(BaseModel):
    text: str


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    query: str = Field(min_length=1)
    documents: list[Union[str, RerankDocument]]
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = False
    instruct: str | None = None


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: RerankDocument | None = None


class RerankUsage(BaseModel):
    total_tokens: int


class RerankResponse(BaseModel):
    id: str
    model: str
    usage: RerankUsage
    results: list[RerankResult]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    owned_by: str = "shopsearch"
    kind: Literal["embedding", "rerank"]


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class RankingParams(BaseModel):
    """The request's ranking parameters: what an experiment's variant may set (they then take precedence)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["keyword", "vector", "hybrid"] | None = None
    fusion: Literal["rrf", "minmax", "zscore"] | None = None
    rrf_k: float | None = Field(default=None, gt=0)
    keyword_weight: float | None = Field(default=None, ge=0)
    vector_weight: float | None = Field(default=None, ge=0)
    rerank: bool | None = None
    rerank_depth: int | None = Field(default=None, ge=1, le=1000)
    ranker: bool | None = None
    ranker_depth: int | None = Field(default=None, ge=1, le=1000)
    # Query understanding (price wording, typos, synonyms, brands); None: the server's setting.
    understand: bool | None = None
    # Translate query words the catalogue lacks into its words (cross-lingual); None: the server's setting.
    translate: bool | None = None
    sort: str | None = Field(default=None, max_length=200)  # relevance, newest, FIELD:asc, FIELD:desc
    sort_depth: int | None = Field(default=None, ge=1, le=1000)
    rules: bool | None = None  # the merchandising rules apply (default true)


class SearchRequest(RankingParams):
    query: str = Field(min_length=1)
    k: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1000)
    filters: Union[dict[str, Any], list[str], None] = None
    explain: bool = False
    # Extension: brand, category and price-band counts over the ranked candidates (search.facets).
    facets: bool = False
    # Opaque, as the shop's front end knows the shopper (recorded in the search log, never interpreted).
    user_id: str | None = Field(default=None, min_length=1, max_length=200)


class SearchHit(BaseModel):
    id: str
    score: float
    item: dict[str, Any]
    explanation: dict[str, Any] | None = None


class SearchResponseBody(BaseModel):
    query_id: str = ""  # this answer's id in the search log: events (POST /v1/events) refer to it
    query: str
    mode: str
    results: list[SearchHit]
    took_ms: float
    timings: dict[str, float]
    degraded: bool
    degraded_reason: str | None
    cached: bool = False
    # While an experiment runs and the request has a user_id: its name, and the variant shown
    # (an A/B variant's name, or "interleaved" for a page merged from both).
    experiment: str | None = None
    variant: str | None = None
    facets: dict[str, list[dict[str, Any]]] | None = None
    understood: dict[str, Any] | None = None
    rules_fired: list[str] = []  # ids of the merchandising rules the query met


class SimilarResponse(BaseModel):
    object: Literal["list"] = "list"
    item_id: str
    results: list[SearchHit]  # nearest first, the item itself left out
    took_ms: float


class ItemsRequest(BaseModel):
    items: list[dict[str, Any]]


class ItemError(BaseModel):
    index: int
    id: str | None
    message: str


class ItemsResponse(BaseModel):
    upserted: int
    errors: list[ItemError]
    version: int


class PatchResponse(BaseModel):
    id: str
    item: dict[str, Any]  # as stored now
    changed: bool  # false: the patch left the item as it was
    version: int


class SnapshotRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # a new folder of the snapshot directory


class SnapshotResponse(BaseModel):
    object: Literal["snapshot"] = "snapshot"
    name: str
    path: str
    seq: int  # the catalogue's write sequence the copy holds
    items: int


class DeleteResponse(BaseModel):
    id: str
    deleted: bool
    version: int


def _every_eval_mode() -> list[Literal["keyword", "vector", "hybrid"]]:
    return ["keyword", "vector", "hybrid"]


class EvalRequest(BaseModel):
    """Judgments as a file on the server (`file`, from GET /v1/eval/judgments) or uploaded text
    (`judgments`: CSV query,docid,rating, or TREC qrels with `queries`)."""

    file: str | None = None
    judgments: str | None = None
    queries: str | None = None
    modes: list[Literal["keyword", "vector", "hybrid"]] = Field(default_factory=_every_eval_mode, min_length=1)
    vector_weight: float | None = Field(default=None, ge=0)


class EvalRun(BaseModel):
    name: str
    params: dict[str, Any]
    summary: dict[str, float | int | str]  # queries, uninformative_queries, gain, then the metrics
    ndcg_change_pct: float  # against the keyword baseline
    wins: list[tuple[str, float]]  # queries where nDCG@10 rose by > 0.01, largest first (at most 15)
    losses: list[tuple[str, float]]


class EvalResponse(BaseModel):
    source: str
    queries: int
    baseline: str
    runs: list[EvalRun]
    plot_png: str | None = None  # base64 PNG of every metric per configuration
    plot_problem: str | None = None


class JudgmentsFile(BaseModel):
    name: str
    queries_file: str | None = None


class JudgmentsList(BaseModel):
    object: Literal["list"] = "list"
    data: list[JudgmentsFile]


class SynonymsBody(BaseModel):
    """The managed synonyms: the text of a synonyms file, or its entries one per list item."""

    model_config = ConfigDict(extra="forbid")

    synonyms: Union[str, list[str]]


class SynonymsResponse(BaseModel):
    object: Literal["synonyms"] = "synonyms"
    synonyms: list[str]  # one entry per item, as a synonyms file's lines
    count: int
    version: int


class RulesBody(BaseModel):
    """Every merchandising rule, replacing those stored (see search/rules.py for a rule's fields)."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Any]


class RulesResponse(BaseModel):
    object: Literal["rules"] = "rules"
    rules: list[dict[str, Any]]  # as written
    count: int
    version: int


class RulesPreviewBody(BaseModel):
    """One search answered by the rules in force and by the draft `rules` (nothing is stored)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    rules: list[Any]
    mode: Literal["keyword", "vector", "hybrid"] | None = None
    k: int = Field(default=10, ge=1, le=1000)
    filters: Union[dict[str, Any], list[str], None] = None


class RulesPreviewResponse(BaseModel):
    object: Literal["rules.preview"] = "rules.preview"
    before: dict[str, Any]  # the search's answer (hits with explanations) under the rules in force
    after: dict[str, Any]  # ...and under the draft


class SuggestionItem(BaseModel):
    text: str
    kind: str
    score: float


class SuggestResponse(BaseModel):
    object: Literal["list"] = "list"
    query: str
    data: list[SuggestionItem]


class EventsRequest(BaseModel):
    """Shoppers' events: each {"type": "click" | "add_to_cart" | "purchase", "query_id", "item_id",
    "position" (1-based, in the list shown), "user_id"?, "timestamp"? (unix seconds)}."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any]


class EventError(BaseModel):
    index: int
    message: str


class EventsResponse(BaseModel):
    accepted: int
    errors: list[EventError]


class QueryCount(BaseModel):
    query: str
    count: int


class VariantFigures(BaseModel):
    searches: int
    no_result_rate: float
    no_click_rate: float
    ctr: float
    mean_click_position: float | None
    conversion_rate: float


class AnalyticsResponse(VariantFigures):
    top_queries: list[QueryCount]
    no_result_queries: list[QueryCount]
    no_click_queries: list[QueryCount]
    variants: dict[str, VariantFigures]
    rules: dict[str, VariantFigures] = {}  # per merchandising rule, over the searches it fired on


class SeriesBucket(VariantFigures):
    start: float  # unix seconds, a multiple of the interval; a bucket covers [start, start + interval)


class SeriesResponse(BaseModel):
    """The analytics rates per time bucket, every bucket of the window listed (empty ones with searches 0)."""

    interval: float  # seconds per bucket
    since: float | None  # the window covered, [since, until); None when the log is empty
    until: float | None
    buckets: list[SeriesBucket]


class ExperimentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    method: Literal["interleave", "ab"]
    variants: dict[str, RankingParams] = Field(description="exactly two, e.g. {\"A\": {...}, \"B\": {...}}")


class ExperimentResponse(BaseModel):
    name: str
    method: str
    sessions: int  # searches in the experiment
    wins: dict[str, int]  # interleave: searches won per variant; ab: searches with a click per variant
    ties: int
    p_value: float
    winner: str | None
    # Extensions beyond the shape the issue fixes:
    running: bool
    started: float
    stopped: float | None
    variants: dict[str, dict[str, Any]]
    searches: dict[str, int]  # ab: searches per variant


class ExperimentList(BaseModel):
    data: list[ExperimentResponse]
