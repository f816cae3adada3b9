"""Qwen3-Embedding and Qwen3-Reranker with transformers, as their authors run them (extra: shopsearch[qwen]).

Embedding: queries become ``Instruct: {task}\\nQuery:{query}`` (no space after
"Query:"), documents go in bare; every text ends with ``<|endoftext|>`` (the
released tokenizer appends it; we add it when a tokenizer does not), batches
are padded on the left, the vector is the last token's hidden state,
L2-normalised. Matryoshka: the first d dimensions, re-normalised.

Reranking: the yes/no judgement in Qwen's chat format with an empty think
block; relevance = softmax over the "no" and "yes" logits at the last position.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .base import EmbedderBase, InputTooLong, ModelUnavailable, TruncationCounter, check_truncation, matryoshka

DEFAULT_QUERY_INSTRUCTION = "Given a shopper's product search query, retrieve products that match what the shopper wants"
DEFAULT_RERANK_INSTRUCTION = "Judge whether the product matches what the shopper is searching for"
RERANK_SYSTEM = (
    'Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
    'Note that the answer can only be "yes" or "no".'
)
RERANK_PREFIX = f"<|im_start|>system\n{RERANK_SYSTEM}<|im_end|>\n<|im_start|>user\n"
RERANK_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
END_OF_TEXT = "<|endoftext|>"
MIN_DIMENSIONS = 32
MAX_CONTEXT = 32768  # the released models' context length


def _check_max_length(max_length: int) -> None:
    if not 64 <= max_length <= MAX_CONTEXT:
        raise ValueError(f"max_length must be between 64 and {MAX_CONTEXT} tokens for Qwen3 models, got {max_length}")


def query_text(instruction: str, query: str) -> str:
    return f"Instruct: {instruction}\nQuery:{query}"


def rerank_text(instruction: str, query: str, document: str) -> str:
    return f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"


def _torch():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelUnavailable("Qwen3 models need torch and transformers: pip install 'shopsearch[qwen]'") from exc
    transformers.utils.logging.disable_progress_bar()  # no loading bars in CLI output or server logs
    return torch, transformers


def _device_and_dtype(torch, device: str | None, dtype: str | None):
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    # bf16 where the hardware does it natively; fp32 on CPU, where bf16 matmuls are slow.
    name = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    return device, getattr(torch, name)


def _load(path: str, model_class: str, max_length: int, device: str | None, dtype: str | None, threads: int):
    """(torch, left-padding tokenizer, model in eval mode, device) for a hub name or folder."""
    torch, transformers = _torch()
    _check_max_length(max_length)
    _check_folder(path)
    if threads:
        torch.set_num_threads(threads)
    device, torch_dtype = _device_and_dtype(torch, device, dtype)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, padding_side="left")
    model = getattr(transformers, model_class).from_pretrained(path, dtype=torch_dtype).to(device).eval()
    return torch, tokenizer, model, device


def _short_name(path: str) -> str:
    return f"qwen3:{Path(path).name if os.path.isdir(path) else path}"


def _batched_forward(torch, tokenizer, model, device, ids: list[list[int]], batch_size: int, read):
    """Run the model over id lists, longest first (least padding), left-padded; read(output) per batch
    gives one row per text; rows come back in input order."""
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    # One slot per text, each filled below (every index is in exactly one chunk): an array row or a numpy scalar.
    out: list[Any] = [None] * len(ids)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, padding=True, return_tensors="pt")
            rows = read(model(**{k: v.to(device) for k, v in batch.items()}))
            for i, row in zip(chunk, rows):
                out[i] = row
    return np.stack(out)


def _check_folder(path: str) -> None:
    if os.path.isdir(path) or "/" in path:  # a local folder, or a hub name transformers may find in its cache
        return
    raise ModelUnavailable(f"{path!r} is neither a model folder nor a Hugging Face name like Qwen/Qwen3-Embedding-0.6B")


class Qwen3Embedder(EmbedderBase):
    matryoshka = True

    def __init__(
        self,
        path: str,
        *,
        instruction: str = DEFAULT_QUERY_INSTRUCTION,
        max_length: int = 8192,
        truncation: str = "truncate",
        dimensions: int | None = None,
        batch_size: int = 8,
        device: str | None = None,
        dtype: str | None = None,
        threads: int = 0,
    ) -> None:
        check_truncation(truncation)
        self._torch, self.tokenizer, self.model, self.device = _load(path, "AutoModel", max_length, device, dtype, threads)
        self.native_dim = int(self.model.config.hidden_size)
        self.max_tokens = min(max_length, int(getattr(self.model.config, "max_position_embeddings", max_length)))
        self.instruction = instruction
        self.truncation = truncation
        self.batch_size = batch_size
        self.dimensions = self.valid_dimensions(dimensions)
        self.dim = self.dimensions or self.native_dim
        self.name = _short_name(path) + (f"@{self.dim}" if dimensions else "")
        self._end_id = self.tokenizer.convert_tokens_to_ids(END_OF_TEXT)
        probe = self.tokenizer("x", add_special_tokens=True)["input_ids"]
        # The released Qwen3-Embedding tokenizer appends <|endoftext|> itself; the base Qwen3 one does not.
        self._adds_end = bool(probe) and probe[-1] == self._end_id

    def valid_dimensions(self, dimensions: int | None) -> int | None:
        if dimensions is None or dimensions == self.native_dim:
            return None
        if not MIN_DIMENSIONS <= dimensions <= self.native_dim:
            raise ValueError(f"dimensions must be between {MIN_DIMENSIONS} and {self.native_dim} for this model, got {dimensions}")
        return dimensions

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids, ending in <|endoftext|>, cut to max_tokens per the truncation policy."""
        limit = self.max_tokens
        assert limit is not None  # __init__ sets it from max_length and the model's config
        encoded = self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        out = []
        for i, ids in enumerate(encoded):
            body = ids[:-1] if self._adds_end else ids
            if len(body) + 1 > limit:
                if self.truncation == "error":
                    raise InputTooLong(i, len(body) + 1, limit)
                self.truncations.add(1)
                body = body[: limit - 1]
            out.append(list(body) + [self._end_id])
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        return [len(ids) - (1 if self._adds_end else 0) + 1 for ids in encoded]

    def truncate(self, text: str, limit: int) -> str:
        return self.tokenizer.decode(self.tokenizer(text, add_special_tokens=False)["input_ids"][:limit])

    def _embed(self, texts: Sequence[str], dimensions: int | None) -> np.ndarray:
        dimensions = self.valid_dimensions(dimensions) if dimensions is not None else self.dimensions
        if not texts:
            return np.zeros((0, dimensions or self.native_dim), dtype=np.float32)
        ids = self.token_ids(texts)
        # Left padding: the last position holds every text's last token.
        out = _batched_forward(self._torch, self.tokenizer, self.model, self.device, ids, self.batch_size,
                               lambda output: output.last_hidden_state[:, -1].float().cpu().numpy())
        return matryoshka(out, dimensions)

    def embed_queries(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        return self._embed([query_text(self.instruction, t) for t in texts], dimensions)

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        return self._embed(texts, dimensions)


class Qwen3Reranker:
    def __init__(
        self,
        path: str,
        *,
        instruction: str = DEFAULT_RERANK_INSTRUCTION,
        max_length: int = 8192,
        batch_size: int = 4,
        device: str | None = None,
        dtype: str | None = None,
        threads: int = 0,
    ) -> None:
        self._torch, self.tokenizer, self.model, self.device = _load(
            path, "AutoModelForCausalLM", max_length, device, dtype, threads)
        self.instruction = instruction
        self.batch_size = batch_size
        self.name = _short_name(path)
        self.truncations = TruncationCounter()
        self._prefix = self.tokenizer.encode(RERANK_PREFIX, add_special_tokens=False)
        self._suffix = self.tokenizer.encode(RERANK_SUFFIX, add_special_tokens=False)
        self.max_tokens = max_length
        if max_length <= len(self._prefix) + len(self._suffix) + 16:
            raise ValueError(f"max_length {max_length} leaves no room for the query and document")
        self._yes = self.tokenizer.convert_tokens_to_ids("yes")
        self._no = self.tokenizer.convert_tokens_to_ids("no")

    def token_ids(self, query: str, documents: Sequence[str], instruction: str | None = None) -> list[list[int]]:
        """The prompt's ids per document: the pair is cut at its end so that prefix and suffix stay whole."""
        room = self.max_tokens - len(self._prefix) - len(self._suffix)
        texts = [rerank_text(instruction or self.instruction, query, doc) for doc in documents]
        out = []
        for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]:
            if len(ids) > room:
                self.truncations.add(1)
                ids = ids[:room]
            out.append(self._prefix + list(ids) + self._suffix)
        return out

    def score(self, query: str, documents: Sequence[str], instruction: str | None = None) -> np.ndarray:
        if not documents:
            return np.zeros(0, dtype=np.float32)
        torch = self._torch
        ids = self.token_ids(query, documents, instruction)

        def relevance(output):
            logits = output.logits[:, -1, :]
            pair = torch.stack([logits[:, self._no], logits[:, self._yes]], dim=1).float()
            return torch.softmax(pair, dim=1)[:, 1].cpu().numpy()

        return _batched_forward(torch, self.tokenizer, self.model, self.device, ids, self.batch_size, relevance).astype(np.float32)
