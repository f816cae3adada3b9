"""An OpenAI-compatible /v1/embeddings client (SGLang, vLLM, TEI, Infinity, OpenAI, shopsearch serve).

Servers embed what they are sent, so for instruction-tuned models (Qwen3-
Embedding) this client writes the query instruction itself; documents go
bare. `dimensions` is sent for Matryoshka truncation and the result is
re-normalised here in case the server does not.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .base import matryoshka
from .http import JsonClient, RemoteModelError
from .qwen3 import query_text


def needs_instruction(model: str) -> bool:
    return "qwen3-embedding" in model.lower()


class OpenAIEmbedder:
    matryoshka = True

    def __init__(self, base_url: str, model: str, *, dimensions: int | None = None, instruction: str = "",
                 add_instruction: bool | None = None, batch_size: int = 64, timeout_s: float = 30.0,
                 retries: int = 3, api_key: str | None = None) -> None:
        self.model = model or "default"
        self.client = JsonClient(base_url, timeout_s=timeout_s, retries=retries,
                                 api_key=api_key or os.environ.get("SHOPSEARCH_REMOTE_API_KEY"))
        self.dimensions = dimensions
        self.instruction = instruction
        self.add_instruction = needs_instruction(self.model) if add_instruction is None else add_instruction
        self.batch_size = batch_size
        self.name = f"openai:{self.model}" + (f"@{dimensions}" if dimensions else "")
        self._dim: int | None = dimensions

    @property
    def dim(self) -> int:
        if self._dim is None:  # the server knows; ask it once
            self._dim = self.embed_documents(["dimension probe"]).shape[1]
        return self._dim

    def _embed(self, texts: Sequence[str], dimensions: int | None) -> np.ndarray:
        dimensions = dimensions or self.dimensions
        if not texts:
            return np.zeros((0, dimensions or self._dim or 0), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            body = {"model": self.model, "input": batch, "encoding_format": "float"}
            if dimensions:
                body["dimensions"] = dimensions
            answer = self.client.post("/embeddings", body)
            try:
                rows = sorted(answer["data"], key=lambda row: row["index"])
                vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
            except (KeyError, TypeError, ValueError) as exc:
                raise RemoteModelError(f"{self.client.base_url}/embeddings: not an OpenAI embeddings answer ({exc})") from exc
            if len(vectors) != len(batch):
                raise RemoteModelError(f"{self.client.base_url}/embeddings returned {len(vectors)} vectors for {len(batch)} inputs")
            parts.append(vectors)
        vectors = matryoshka(np.concatenate(parts), dimensions)
        self._dim = self._dim or vectors.shape[1]
        return vectors

    def embed_queries(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        if self.add_instruction:
            texts = [query_text(self.instruction, t) for t in texts]
        return self._embed(texts, dimensions)

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        return self._embed(texts, dimensions)
