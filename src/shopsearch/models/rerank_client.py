"""Remote rerankers: Cohere/Jina-style /v1/rerank (Infinity, vLLM, SGLang, Jina, Cohere, shopsearch serve) and TEI's /rerank.

Answers come in two shapes: Cohere's {"results": [{"index", "relevance_score"}]}
and a bare list [{"index", "score"}] (TEI, SGLang); both are read.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from .http import JsonClient, RemoteModelError


class RerankClient:
    def __init__(self, base_url: str, model: str = "", *, flavour: str = "cohere", instruction: str = "",
                 timeout_s: float = 30.0, retries: int = 3, api_key: str | None = None) -> None:
        if flavour not in ("cohere", "tei"):
            raise ValueError(f"unknown rerank API flavour {flavour!r}: cohere or tei")
        self.flavour = flavour
        self.model = model
        self.instruction = instruction
        self.client = JsonClient(base_url, timeout_s=timeout_s, retries=retries,
                                 api_key=api_key or os.environ.get("SHOPSEARCH_REMOTE_API_KEY"))
        self.name = f"{flavour}:{model or base_url}"

    def score(self, query: str, documents: Sequence[str], instruction: str | None = None) -> np.ndarray:
        if not documents:
            return np.zeros(0, dtype=np.float32)
        if self.flavour == "tei":
            answer = self.client.post("/rerank", {"query": query, "texts": list(documents), "raw_scores": False})
        else:
            body: dict[str, Any] = {"query": query, "documents": list(documents), "top_n": len(documents),
                                    "return_documents": False}
            if self.model:
                body["model"] = self.model
            if instruction or self.instruction:
                body["instruct"] = instruction or self.instruction  # Qwen3-Reranker servers read it; others ignore it
            answer = self.client.post("/rerank", body)
        return _scores(answer, len(documents), self.client.base_url)


def _scores(answer: Any, n: int, where: str) -> np.ndarray:
    rows = answer.get("results") if isinstance(answer, dict) else answer
    if not isinstance(rows, list):
        raise RemoteModelError(f"{where}/rerank: expected a results list, got {type(rows).__name__}")
    scores = np.full(n, np.nan, dtype=np.float32)
    for row in rows:
        try:
            index = int(row["index"])
            scores[index] = float(row["relevance_score"] if "relevance_score" in row else row["score"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RemoteModelError(f"{where}/rerank: unreadable result {row!r} ({exc})") from exc
    if np.isnan(scores).any():
        raise RemoteModelError(f"{where}/rerank scored {int((~np.isnan(scores)).sum())} of {n} documents")
    return scores
