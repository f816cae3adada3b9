"""Retrieve: embed the query (outside any index lock), then read the legs under the index's read lock.

The keyword and vector legs each read `plan.depth` rows under the same filter mask; the vector
leg scores an item by its best vector (its own or a chunk's). With both legs in one server
collection, a hybrid search fused by RRF with equal weights is one server call instead.
"""

from __future__ import annotations

import logging
import time

from ...errors import IndexUnavailable
from ...index.chunks import merge_best
from ..candidates import Candidates, Leg
from ..context import SearchContext
from ..resilience import ModelCallFailed

log = logging.getLogger(__name__)


class Retrieve:
    name = "retrieve"

    def applies(self, candidates: Candidates) -> bool:
        return True

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        plan, backends = candidates.plan, context.backends
        generation = backends.vector_generation
        if plan.vector_leg and candidates.query_vector is None:
            self._embed_query(candidates, context)
        timings = candidates.timings
        with backends.reading():
            if backends.vector_generation != generation and candidates.query_vector is not None:
                # Another model's vectors were swapped in (a migration) since the query was embedded.
                candidates.query_vector = None
                self._embed_query(candidates, context)
            candidates.allowed = allowed = backends.mask(candidates.conditions)
            if backends.server_fusion is not None and candidates.query_vector is not None \
                    and self._server_can_fuse(candidates, context):
                started = time.perf_counter()
                fusion, query_vector = backends.server_fusion, candidates.query_vector
                # Both legs are on the server: nothing to answer by when it is away (IndexUnavailable).
                fused = context.read_vectors(lambda: fusion.fused_search(
                    candidates.groups, query_vector, plan.depth, plan.rrf_k, allowed, candidates.conditions or None,
                    candidates.alternatives))
                if fused is not None:
                    # The server's RRF is unweighted; the local one with two equal weights w is w times it.
                    candidates.rows, candidates.scores = fused[0], fused[1] * plan.keyword_weight
                    candidates.server_fused = True
                    timings["server_fusion_ms"] = (time.perf_counter() - started) * 1000
                    return candidates
            if plan.keyword_leg:
                started = time.perf_counter()
                candidates.keyword = backends.keyword.search(candidates.groups, plan.depth, allowed, candidates.alternatives)
                timings["keyword_ms"] = (time.perf_counter() - started) * 1000
            if candidates.query_vector is not None:
                started = time.perf_counter()
                try:
                    candidates.vector, candidates.best_chunks = context.read_vectors(lambda: vector_leg(candidates, context))
                except IndexUnavailable as exc:  # the vector server is away: degrade to the keyword leg
                    if not plan.keyword_leg:
                        raise
                    log.warning("vector index failed, answering by keyword only: %s", exc)
                    candidates.query_vector = None  # later stages must not ask the server either
                    candidates.degrade(f"vector leg skipped: {exc}; results are keyword-only")
                finally:
                    timings["vector_ms"] = (time.perf_counter() - started) * 1000
        return candidates

    def _embed_query(self, candidates: Candidates, context: SearchContext) -> None:
        try:
            with candidates.timed("embed_ms"):
                candidates.query_vector = context.embed_query(candidates.vector_text, candidates.embed_query)
        except ModelCallFailed as exc:  # the model is down: degrade, do not fail the shopper
            if candidates.plan.mode == "vector":
                raise
            log.warning("query embedding failed, answering by keyword only: %s", exc)
            candidates.degrade(f"vector leg skipped: {exc}; results are keyword-only")

    @staticmethod
    def _server_can_fuse(candidates: Candidates, context: SearchContext) -> bool:
        plan = candidates.plan
        return (context.config.search.server_fusion and plan.mode == "hybrid" and plan.fusion == "rrf"
                and plan.keyword_weight == plan.vector_weight > 0 and not plan.ranker and not plan.exact
                and not context.backends.chunks.count())


def vector_leg(candidates: Candidates, context: SearchContext) -> tuple[Leg, dict[int, int]]:
    """The vector leg, each item scored by its best vector (its own or a chunk's); and which rows a chunk won.
    Call under the read lock."""
    plan, backends = candidates.plan, context.backends
    assert candidates.query_vector is not None, "the vector leg needs the query's vector"
    leg = backends.vector.search(candidates.query_vector, plan.depth, candidates.allowed, exact=plan.exact,
                                 where=candidates.conditions or None)
    if not backends.chunks.count():
        return leg, {}
    chunk_hits = backends.chunks.search(candidates.query_vector, plan.depth, candidates.allowed, exact=plan.exact)
    return merge_best(leg, chunk_hits, plan.depth)
