"""What a search answers (hits with their explanations, timings, warnings) and what a write answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    rules: list[str] = field(default_factory=list)  # the merchandising rules that moved it (pinned, boosted, buried)
    matched_terms: dict[str, list[str]] = field(default_factory=dict)
    # Character spans [start, end) of the query's terms in the title and description, for <mark>.
    highlights: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


@dataclass
class Understood:
    """What query understanding read in the query (see search/stages/understand.py)."""

    text: str  # what was searched
    filters: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. {"price": {"gte": 400, "lte": 600}}
    spans: list[dict[str, Any]] = field(default_factory=list)  # {"start", "end", "text", "kind"} in the query
    corrections: list[dict[str, str]] = field(default_factory=list)  # {"from", "to"}: "did you mean"
    synonyms: list[dict[str, Any]] = field(default_factory=list)  # {"phrase", "alternatives"}
    entities: list[dict[str, Any]] = field(default_factory=list)  # {"field", "value", "text", "use"}
    did_you_mean: str | None = None  # the query as typed, every correction made (price wording kept)
    language: str | None = None  # the query's, as text/languages.py reads it ("zh", "es", "en", "und")
    translations: list[dict[str, Any]] = field(default_factory=list)  # {"from", "to": [...], "source"}

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
    timings: dict[str, float] = field(default_factory=dict)  # per stage (and per leg), milliseconds
    facets: dict[str, list[dict[str, Any]]] | None = None
    understood: Understood | None = None
    rules_fired: list[str] = field(default_factory=list)  # ids of the merchandising rules the query met

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
            "rules_fired": self.rules_fired,
            **({"facets": self.facets} if self.facets is not None else {}),
            **({"understood": self.understood.to_dict()} if self.understood is not None else {}),
        }


@dataclass(frozen=True)
class WriteResult:
    seq: int
    count: int  # items in the batch, written or already stored as they are
    unchanged: int = 0  # of which already stored exactly so: not embedded or written again
