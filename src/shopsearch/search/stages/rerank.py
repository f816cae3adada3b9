"""The reranker model reads the head of the list (a long description's best-matching chunk) and reorders it.

It runs outside any index lock: a slow reranker delays only the searches that asked for it.
If it fails or times out, the first stages' order stands and the answer says so.
"""

from __future__ import annotations

import logging

import numpy as np

from ...index.items import document_text
from ..candidates import Candidates
from ..context import SearchContext
from ..resilience import ModelCallFailed

log = logging.getLogger(__name__)


class Rerank:
    name = "rerank"

    def applies(self, candidates: Candidates) -> bool:
        return candidates.plan.rerank and len(candidates.rows) > 0

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        plan = candidates.plan
        records = context.records(candidates, candidates.rows[: plan.rerank_depth].tolist())
        head = np.asarray([r for r in candidates.rows[: plan.rerank_depth].tolist() if r in records], dtype=np.int64)
        texts = rerank_texts(head.tolist(), records, candidates.best_chunks, context)
        try:
            scores = context.rerank(plan.query, texts, plan.rerank_instruction, plan.timeout_s)
        except ModelCallFailed as exc:
            log.warning("rerank failed, answering with the first stage's order: %s", exc)
            candidates.degrade(f"rerank skipped: {exc}; results are in first-stage order")
            return candidates
        order = candidates.reorder_head(head, scores)
        candidates.rerank_scores = {row: (score, rank) for rank, (row, score) in
                                    enumerate(zip(head[order].tolist(), scores[order].tolist()), start=1)}
        return candidates


def rerank_texts(rows: list[int], records: dict[int, dict], best_chunks: dict[int, int], context: SearchContext) -> list[str]:
    """What the reranker reads per product; for a long description, the chunk that matched best."""
    chunk_text_of = context.backends.store.chunk_texts([best_chunks[r] for r in rows if r in best_chunks])
    texts = []
    for row in rows:
        record = records[row]
        chunk = chunk_text_of.get(best_chunks.get(row, -1))
        if chunk is not None:
            record = {**record, "description": ": ".join(part for part in chunk if part)}
        texts.append(document_text(record))
    return texts
