"""Any sentence-transformers model (extra: shopsearch[st]): bi-encoders and CrossEncoder rerankers.

The model's own prompts apply: encode_query / encode_document use the
"query" / "document" prompts a model ships with (multilingual-e5's "query: ",
Qwen3-Embedding's instruction), so nothing is hard-coded per model here.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import EmbedderBase, InputTooLong, ModelUnavailable, check_truncation, matryoshka

log = logging.getLogger(__name__)


def _sentence_transformers():
    try:
        import sentence_transformers
    except ImportError as exc:
        raise ModelUnavailable("sentence-transformers models need: pip install 'shopsearch[st]'") from exc
    return sentence_transformers


def _short_name(path: str) -> str:
    return Path(path).name if os.path.isdir(path) else path


ENGINES = ("auto", "torch", "onnx")


class SentenceTransformerEmbedder(EmbedderBase):
    """engine: "torch" runs sentence-transformers itself; "onnx" runs the same forward pass exported to
    ONNX Runtime (CPU only); "auto" picks onnx on CPU when the model exports, else torch."""

    def __init__(self, path: str, *, dimensions: int | None = None, max_length: int = 8192,
                 truncation: str = "truncate", batch_size: int = 64, device: str | None = None,
                 engine: str = "auto", threads: int = 0, cache_dir: str | None = None) -> None:
        st = _sentence_transformers()
        check_truncation(truncation)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.model = st.SentenceTransformer(path, device=device)
        self.max_tokens = min(max_length, int(self.model.max_seq_length or max_length))
        self.model.max_seq_length = self.max_tokens
        size = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.native_dim = int(size())
        if dimensions is not None and not 1 <= dimensions <= self.native_dim:
            raise ValueError(f"dimensions must be between 1 and {self.native_dim} for this model, got {dimensions}")
        self.dimensions = dimensions
        self.dim = dimensions or self.native_dim
        self.matryoshka = True  # truncation is possible; whether it is good depends on how the model was trained
        self.truncation = truncation
        self.batch_size = batch_size
        self.name = f"st:{_short_name(path)}" + (f"@{dimensions}" if dimensions else "")
        self._tokenizer_lock = threading.Lock()  # see OnnxSentenceEncoder: calls may overlap
        self.onnx = self._onnx_encoder(path, engine, threads, cache_dir)
        self.engine = "onnx" if self.onnx else "torch"
        # Serving hints for a CPU-bound ONNX model (benchmarks/bench_serve.py): two calls at once,
        # so one batch's tokenising overlaps another's run, and small batches, which cost no
        # throughput on a CPU but shorten every wait behind them.
        self.parallel_calls = 2 if self.onnx else 1
        self.serving_batch = 2 if self.onnx else None

    def _onnx_encoder(self, path: str, engine: str, threads: int, cache_dir: str | None):
        from .onnx_runtime import OnnxSentenceEncoder

        on_cpu = self.model.device.type == "cpu"
        if engine == "torch" or (engine == "auto" and not on_cpu):
            return None
        if engine == "onnx" and not on_cpu:
            raise ValueError(f"the onnx engine runs on CPU; this model is on {self.model.device}")
        try:  # the encoder checks exportability itself, before any export work
            return OnnxSentenceEncoder(self.model, path, cache_dir=cache_dir, threads=threads,
                                       tokenizer_lock=self._tokenizer_lock)
        except ModelUnavailable as exc:
            if engine == "onnx":
                raise
            log.info("running %s with torch: %s", path, exc)
            return None

    def truncate(self, text: str, limit: int) -> str:
        tokenizer = self.model.tokenizer
        with self._tokenizer_lock:
            return tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:limit])

    def _prompt(self, names: Sequence[str]) -> str:
        # The prompt sentence-transformers' encode_query / encode_document would choose.
        prompts = self.model.prompts or {}
        for name in names:
            if name in prompts:
                return prompts[name]
        default = getattr(self.model, "default_prompt_name", None)
        return prompts.get(default, "") if default else ""

    def _check_lengths(self, texts: Sequence[str]) -> None:
        # A token covers at least one character, so only texts longer than the limit in
        # characters can be too long in tokens: most product texts skip a second tokenisation.
        limit = self.max_tokens
        assert limit is not None  # __init__ sets it from max_length and the model's max_seq_length
        suspects = [i for i, t in enumerate(texts) if len(t) > limit - 2]
        if not suspects:
            return
        with self._tokenizer_lock:
            encoded = self.model.tokenizer([texts[i] for i in suspects])["input_ids"]
        lengths = dict(zip(suspects, (len(ids) for ids in encoded)))
        too_long = [i for i in suspects if lengths[i] > limit]
        if too_long and self.truncation == "error":
            raise InputTooLong(too_long[0], lengths[too_long[0]], limit)
        self.truncations.add(len(too_long))

    def _encode(self, kind: str, texts: Sequence[str], dimensions: int | None) -> np.ndarray:
        dimensions = dimensions or self.dimensions
        if not texts:
            return np.zeros((0, dimensions or self.native_dim), dtype=np.float32)
        self._check_lengths(texts)
        if self.onnx:
            prompt = self._prompt(("query",) if kind == "query" else ("document", "passage", "corpus"))
            vectors = self.onnx.encode(texts, prompt, self.batch_size)
        else:
            method = self.model.encode_query if kind == "query" else self.model.encode_document
            vectors = method(list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return matryoshka(vectors, dimensions)

    def embed_queries(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        return self._encode("query", texts, dimensions)

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        return self._encode("document", texts, dimensions)


class CrossEncoderReranker:
    def __init__(self, path: str, *, max_length: int = 8192, batch_size: int = 32, device: str | None = None) -> None:
        st = _sentence_transformers()
        self.model = st.CrossEncoder(path, device=device, max_length=max_length)
        self.batch_size = batch_size
        self.name = f"st:{_short_name(path)}"

    def score(self, query: str, documents: Sequence[str], instruction: str | None = None) -> np.ndarray:
        # A CrossEncoder has no instruction slot; the argument is accepted for the protocol's sake.
        if not documents:
            return np.zeros(0, dtype=np.float32)
        raw = self.model.predict([(query, doc) for doc in documents], batch_size=self.batch_size,
                                 convert_to_numpy=True, show_progress_bar=False)
        raw = np.asarray(raw, dtype=np.float32)
        if raw.ndim == 2:  # two-label models: the "relevant" column
            raw = raw[:, -1]
        if raw.min() < 0 or raw.max() > 1:  # logits: CrossEncoders with no activation configured
            raw = 1.0 / (1.0 + np.exp(-raw))
        return raw
