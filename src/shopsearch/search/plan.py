"""A search's plan: the request and the configured defaults, validated once, frozen.

Every stage reads its settings from the plan and nothing else; every invalid value is
refused here, naming the parameter (`InvalidRequest.param`), before any work starts.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from ..config import MAX_DEPTH, Fusion, Mode, SearchConfig
from ..errors import InvalidRequest
from ..index.filters import Condition, InvalidFilter, parse_filters
from .rules import RuleSet

MODES: tuple[str, ...] = typing.get_args(Mode)
FUSIONS: tuple[str, ...] = typing.get_args(Fusion)
MAX_K = MAX_DEPTH


@dataclass(frozen=True)
class Abilities:
    """What this engine has for the optional stages (the plan refuses to ask for what is missing)."""

    ranker: bool = False
    ranker_problem: str | None = None  # why there is no learned ranker, when one failed to load
    reranker: bool = False
    understand: bool = True  # query understanding runs unless a request turns it off
    translate: bool = True  # and translates words the catalogue lacks (UnderstandConfig.translate)
    # Whether a field has values a sort can order by (numbers or dates); by default none has.
    sortable: Callable[[str], bool] = lambda name: False


SORT_ORDERS = ("asc", "desc")


@dataclass(frozen=True)
class SearchPlan:
    query: str
    mode: Mode
    k: int = 10
    offset: int = 0
    conditions: tuple[Condition, ...] = ()
    fusion: Fusion = "minmax"
    rrf_k: float = 60.0
    keyword_weight: float = 1.0
    vector_weight: float = 0.4
    candidates: int = 100  # per leg, before fusion (hybrid, or when counting facets)
    exact: bool = False  # the vector leg scans every allowed vector (for measuring recall)
    ranker: bool = False  # the learned ranker reorders the head of the fused list
    ranker_depth: int = 100
    rerank: bool = False  # the reranker model reorders the head of the (ranked) list
    rerank_depth: int = 100
    rerank_instruction: str | None = None
    timeout_s: float | None = None  # bounds the reranker's call
    facets: bool = False
    explain: bool = True
    understand: bool = True  # read price wording, typos, synonyms and brand words first
    translate: bool = True  # words the catalogue lacks are translated into its words (understanding)
    sort: str = "relevance"  # or FIELD:asc, FIELD:desc, newest (normalised: newest is its field:desc)
    sort_depth: int = 200  # a sort orders this many of the best results
    rules: bool = True  # the merchandising rules apply
    draft_rules: RuleSet | None = field(default=None, compare=False)  # in place of the stored ones (a preview)

    @property
    def sort_key(self) -> tuple[str, bool] | None:
        """(field, descending), or None for relevance order."""
        if self.sort == "relevance":
            return None
        name, _, order = self.sort.rpartition(":")
        return name, order == "desc"

    @property
    def wanted(self) -> int:
        return self.offset + self.k

    @property
    def depth(self) -> int:
        """How deep each leg reads: the page, and the head every later stage reads."""
        depth = max(self.wanted, self.candidates) if self.mode == "hybrid" or self.facets else self.wanted
        if self.ranker:
            depth = max(depth, self.ranker_depth)
        if self.rerank:
            depth = max(depth, self.rerank_depth)
        if self.sort_key is not None:
            depth = max(depth, self.sort_depth)
        return min(depth, MAX_DEPTH)

    @property
    def keyword_leg(self) -> bool:
        return self.mode in ("keyword", "hybrid")

    @property
    def vector_leg(self) -> bool:
        return self.mode in ("vector", "hybrid")

    @property
    def weights(self) -> tuple[float, float]:
        return self.keyword_weight, self.vector_weight

    @classmethod
    def build(cls, query: Any, defaults: SearchConfig, abilities: Abilities = Abilities(), **request: Any) -> "SearchPlan":
        """The plan for one request; None (or an absent key) takes the configured default.

        Request keys: mode, k, offset, filters (CLI strings or a mapping, see index.filters),
        fusion, rrf_k, keyword_weight, vector_weight, candidates, exact, ranker, ranker_depth,
        rerank, rerank_depth, rerank_instruction, timeout_s, facets, explain, understand, translate, sort,
        sort_depth, rules."""
        unknown = set(request) - _REQUEST_KEYS
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidRequest(f"unknown search parameter {name!r}; known: {', '.join(sorted(_REQUEST_KEYS))}", name)
        given = {name: value for name, value in request.items() if value is not None}
        if not isinstance(query, str) or not query.strip():
            raise InvalidRequest("query must be a non-empty string", "query")
        mode = _choice(given.get("mode", defaults.mode), MODES, "mode")
        fusion = _choice(given.get("fusion", defaults.fusion), FUSIONS, "fusion")
        ranker = _flag(given, "ranker", abilities.ranker and mode == "hybrid")
        rerank = _flag(given, "rerank", abilities.reranker)
        if ranker and not abilities.ranker:
            raise InvalidRequest(abilities.ranker_problem or "no learned ranker here: train one with `shopsearch train-ranker`",
                                 "ranker")
        if ranker and mode != "hybrid":
            raise InvalidRequest("the learned ranker needs mode=hybrid: it reads both legs", "ranker")
        if rerank and not abilities.reranker:
            raise InvalidRequest("no reranker is configured, so there is no rerank stage: set --rerank-model "
                                 "(or SHOPSEARCH_MODEL__RERANKER) to a reranker such as qwen3:Qwen/Qwen3-Reranker-0.6B",
                                 "rerank")
        try:
            conditions = tuple(parse_filters(given.get("filters")))
        except InvalidFilter as exc:
            raise InvalidRequest(str(exc), "filters") from None
        instruction = given.get("rerank_instruction")
        if instruction is not None and not isinstance(instruction, str):
            raise InvalidRequest("rerank_instruction must be a string", "rerank_instruction")
        timeout = given.get("timeout_s")
        if timeout is not None:
            timeout = _number(given, "timeout_s", timeout)
            if not timeout > 0:
                raise InvalidRequest(f"timeout_s must be positive, got {timeout}", "timeout_s")
        sort = _sort(given.get("sort", "relevance"), defaults, abilities)
        rrf_k = _number(given, "rrf_k", defaults.rrf_k)
        if not rrf_k > 0:
            raise InvalidRequest(f"rrf_k must be positive, got {rrf_k}", "rrf_k")
        weights = {name: _number(given, name, getattr(defaults, name), "weights") for name in ("keyword_weight", "vector_weight")}
        for name, weight in weights.items():
            if weight < 0:
                raise InvalidRequest(f"{name} must be finite and non-negative, got {weight}", "weights")
        return cls(
            query=query, mode=mode, k=_count(given, "k", 10, 1), offset=_count(given, "offset", 0, 0),
            conditions=conditions, fusion=fusion, rrf_k=rrf_k,
            keyword_weight=weights["keyword_weight"], vector_weight=weights["vector_weight"],
            candidates=_count(given, "candidates", defaults.candidates, 1), exact=_flag(given, "exact", False),
            ranker=ranker, ranker_depth=_count(given, "ranker_depth", defaults.ranker_depth, 1),
            rerank=rerank, rerank_depth=_count(given, "rerank_depth", defaults.rerank_depth, 1),
            rerank_instruction=instruction, timeout_s=timeout,
            facets=_flag(given, "facets", False), explain=_flag(given, "explain", True),
            understand=_flag(given, "understand", abilities.understand), sort=sort,
            translate=_flag(given, "translate", abilities.translate),
            sort_depth=_count(given, "sort_depth", defaults.sort_depth, 1), rules=_flag(given, "rules", True),
        )


_REQUEST_KEYS = {f.name for f in fields(SearchPlan)} - {"query", "conditions", "draft_rules"} | {"filters"}


def _sort(value: Any, defaults: SearchConfig, abilities: Abilities) -> str:
    """A sort as FIELD:asc|desc (newest: the configured date field, descending), or relevance."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"sort must be relevance, newest or FIELD:asc|desc, got {value!r}", "sort")
    value = value.strip()
    if value == "relevance":
        return value
    if value == "newest":
        if not defaults.newest_field:
            raise InvalidRequest("sort=newest needs a date field: set SHOPSEARCH_SEARCH__NEWEST_FIELD", "sort")
        value = f"{defaults.newest_field}:desc"
    name, colon, order = value.rpartition(":")
    if not colon or not name or order not in SORT_ORDERS:
        raise InvalidRequest(f"sort must be relevance, newest or FIELD:asc|desc (e.g. price:asc), got {value!r}", "sort")
    if not abilities.sortable(name):
        raise InvalidRequest(f"unknown sort field {name!r}: no item has a number or date in it", "sort")
    return value


def _choice(value: Any, allowed: tuple[str, ...], name: str) -> Any:
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}, got {value!r}", name)
    return value


def _flag(given: dict[str, Any], name: str, default: bool) -> bool:
    value = given.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be true or false, got {value!r}", name)
    return value


def _count(given: dict[str, Any], name: str, default: int, low: int) -> int:
    value = given.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_DEPTH:
        raise InvalidRequest(f"{name} must be an integer from {low} to {MAX_DEPTH}, got {value!r}", name)
    return value


def _number(given: dict[str, Any], name: str, default: float, param: str | None = None) -> float:
    value = given.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a finite number, got {value!r}", param or name)
    return float(value)
