"""An OpenAI-compatible /v1/embeddings client (SGLang, vLLM, TEI, Infinity, OpenAI, shopsearch serve).

Servers embed what they are sent, so for instruction-tuned models (Qwen3-
Embedding) this client writes the query instruction itself; documents go
bare. `dimensions` is sent for Matryoshka truncation and the result is
re-normalised here in case the server does not.

Several base URLs (comma-separated: replicas of one model, such as SGLang on
several GPUs) share the work of a big call: each endpoint keeps `inflight`
batches going, pulling the next batch when one returns, so a faster replica
takes more. An endpoint that fails (after its retries) hands its batch back
to the others and drops out of that call; the call fails only when all have.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from .base import EmbedderBase, matryoshka
from .http import JsonClient, RemoteModelError
from .qwen3 import query_text


def needs_instruction(model: str) -> bool:
    return "qwen3-embedding" in model.lower()


class OpenAIEmbedder(EmbedderBase):
    matryoshka = True

    def __init__(self, base_url: str, model: str, *, dimensions: int | None = None, instruction: str = "",
                 add_instruction: bool | None = None, batch_size: int = 64, timeout_s: float = 30.0,
                 retries: int = 3, api_key: str | None = None, inflight: int = 2) -> None:
        self.model = model or "default"
        urls = [url.strip().rstrip("/") for url in base_url.split(",") if url.strip()]
        bad = [url for url in urls if not url.startswith(("http://", "https://"))]
        if not urls or bad:
            raise ValueError(f"embedding endpoints must be http(s) URLs, comma-separated; got {base_url!r}")
        key = api_key or os.environ.get("SHOPSEARCH_REMOTE_API_KEY")
        self.clients = [JsonClient(url, timeout_s=timeout_s, retries=retries, api_key=key) for url in urls]
        self.client = self.clients[0]
        self.inflight = max(1, inflight)
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
        batches = [list(texts[start:start + self.batch_size]) for start in range(0, len(texts), self.batch_size)]
        if len(self.clients) == 1 or len(batches) == 1:
            parts = [self._post(self.client, batch, dimensions) for batch in batches]
        else:
            parts = self._spread(batches, dimensions)
        vectors = matryoshka(np.concatenate(parts), dimensions)
        self._dim = self._dim or vectors.shape[1]
        return vectors

    def _spread(self, batches: list[list[str]], dimensions: int | None) -> list[np.ndarray]:
        """Every batch, embedded by whichever endpoint is free; in the batches' order."""
        results: list[np.ndarray | None] = [None] * len(batches)
        todo = deque(range(len(batches)))
        failures: dict[str, RemoteModelError] = {}
        in_flight = 0
        changed = threading.Condition()

        def work(client: JsonClient) -> None:
            nonlocal in_flight
            while True:
                with changed:
                    # An idle worker stays while batches are in flight elsewhere: a failing
                    # endpoint may yet hand one back.
                    while not todo and in_flight and client.base_url not in failures:
                        changed.wait()
                    if not todo or client.base_url in failures:
                        return
                    i = todo.popleft()
                    in_flight += 1
                try:
                    results[i] = self._post(client, batches[i], dimensions)
                except RemoteModelError as exc:
                    with changed:  # hand the batch back; this endpoint is out of this call
                        todo.appendleft(i)
                        failures[client.base_url] = exc
                finally:
                    with changed:
                        in_flight -= 1
                        changed.notify_all()

        with ThreadPoolExecutor(len(self.clients) * self.inflight, thread_name_prefix="shopsearch-embed") as pool:
            for client in self.clients:
                for _ in range(self.inflight):
                    pool.submit(work, client)
        if any(part is None for part in results):
            raise RemoteModelError("every embedding endpoint failed: " + "; ".join(str(e) for e in failures.values()))
        return results  # type: ignore[return-value]

    def _post(self, client: JsonClient, batch: list[str], dimensions: int | None) -> np.ndarray:
        body: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "float"}
        if dimensions:
            body["dimensions"] = dimensions
        answer = client.post("/embeddings", body)
        try:
            rows = sorted(answer["data"], key=lambda row: row["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise RemoteModelError(f"{client.base_url}/embeddings: not an OpenAI embeddings answer ({exc})") from exc
        if len(vectors) != len(batch):
            raise RemoteModelError(f"{client.base_url}/embeddings returned {len(vectors)} vectors for {len(batch)} inputs")
        return vectors

    def embed_queries(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        if self.add_instruction:
            texts = [query_text(self.instruction, t) for t in texts]
        return self._embed(texts, dimensions)

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        return self._embed(texts, dimensions)
