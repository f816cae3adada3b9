"""A search, top to bottom: the plan, then each stage in turn, then the response.

Adding a stage is one module in search/stages/ and one line here.
"""

from __future__ import annotations

import time
from typing import Sequence

from .candidates import Candidates, QueryEmbedder
from .context import SearchContext
from .plan import SearchPlan
from .response import SearchResponse
from .stages import Stage
from .stages.boost import Boost
from .stages.explain import Explain
from .stages.facets import Facets
from .stages.fuse import Fuse
from .stages.page import Page
from .stages.ranker import Ranker
from .stages.rerank import Rerank
from .stages.retrieve import Retrieve
from .stages.rules import ApplyRules, FireRules
from .stages.sort import Sort
from .stages.understand import Understand

STAGES: tuple[Stage, ...] = (
    Understand(),
    FireRules(),
    Retrieve(),
    Fuse(),
    Boost(),
    Ranker(),
    Rerank(),
    Sort(),
    ApplyRules(),
    Page(),
    Explain(),
    Facets(),
)


def run(plan: SearchPlan, context: SearchContext, embed: QueryEmbedder | None = None, until: str | None = None,
        pipeline: Sequence[Stage] = STAGES) -> Candidates:
    """Run the stages on a plan (up to and including the one named `until`): the final candidates.
    `embed` replaces the engine's own query embedding (the server's batcher and cache)."""
    candidates = Candidates(plan, embed_query=embed)
    for stage in pipeline:
        if stage.applies(candidates):
            started = time.perf_counter()
            candidates = stage.run(candidates, context)
            candidates.timings[f"{stage.name}_ms"] = (time.perf_counter() - started) * 1000
        if stage.name == until:
            break
    return candidates


def search(plan: SearchPlan, context: SearchContext, embed: QueryEmbedder | None = None) -> SearchResponse:
    started = time.perf_counter()
    candidates = run(plan, context, embed)
    timings = candidates.timings
    return SearchResponse(plan.query, plan.mode, candidates.hits, (time.perf_counter() - started) * 1000,
                          embed_ms=timings.get("embed_ms", 0.0), warnings=candidates.warnings, timings=timings,
                          facets=candidates.facets, understood=candidates.understood,
                          rules_fired=[rule.id for rule in candidates.fired])
