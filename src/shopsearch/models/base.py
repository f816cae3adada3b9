"""The seam between search and whatever turns text into vectors (or scores pairs of texts)."""

from __future__ import annotations

import re
import threading
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import ShopsearchError

# A model-free token count (words, punctuation, each CJK character): close to subword counts.
_APPROXIMATE_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|\w+|[^\w\s]", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 row vectors, and says what it can do.

    Queries and documents are separate calls because retrieval models embed
    them differently (instruction or "query: " prefixes on one side only).
    `EmbedderBase` gives every capability a default.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int:  # of the vectors it returns by default
        ...

    # Longest input it reads, in its own tokens; longer inputs are cut (counted in `truncations`)
    # or refused (InputTooLong), per its truncation policy. None: no limit it knows of.
    max_tokens: int | None
    matryoshka: bool  # `dimensions` may ask for a prefix of the vector, re-normalised
    serving_batch: int | None  # texts per call a server should send it (None: the server's default)
    parallel_calls: int  # calls that may run at once (a server overlaps this many)

    @property
    def truncations(self) -> "TruncationCounter":  # read-only: EmbedderBase makes one per embedder
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def truncate(self, text: str, limit: int) -> str: ...

    def embed_queries(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray: ...

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray: ...


class EmbedderBase:
    """Defaults for the capabilities of `Embedder`; a backend overrides what it knows better."""

    max_tokens: int | None = None
    matryoshka = False
    serving_batch: int | None = None
    parallel_calls = 1

    @property
    def truncations(self) -> "TruncationCounter":
        counter = self.__dict__.get("_truncations")
        if counter is None:
            counter = self.__dict__["_truncations"] = TruncationCounter()
        return counter

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text; without the model's tokenizer, a model-free estimate."""
        return [len(_APPROXIMATE_TOKEN.findall(text)) for text in texts]

    def truncate(self, text: str, limit: int) -> str:
        """The text cut after its first `limit` tokens (as count_tokens counts them)."""
        for i, match in enumerate(_APPROXIMATE_TOKEN.finditer(text)):
            if i == limit:
                return text[: match.start()].rstrip()
        return text

    def check_dimensions(self, dimensions: int | None) -> None:
        """Refuse a size a fixed-size model cannot give."""
        dim = self.dim  # type: ignore[attr-defined]  # every embedder has one
        if dimensions is not None and not self.matryoshka and dimensions != dim:
            raise ValueError(f"{self.name} has a fixed size of {dim}; "  # type: ignore[attr-defined]
                             "dimensions needs a Matryoshka model such as qwen3")


@runtime_checkable
class Reranker(Protocol):
    """Scores how well each document answers the query: relevance in [0, 1], in input order."""

    name: str

    def score(self, query: str, documents: Sequence[str], instruction: str | None = None) -> np.ndarray: ...


class ModelUnavailable(ShopsearchError, RuntimeError):
    """The model's package or files are missing; the message says what to install."""


class InputTooLong(ShopsearchError, ValueError):
    """A text is longer than the model takes and the truncation policy is "error"."""

    def __init__(self, index: int, tokens: int, limit: int) -> None:
        super().__init__(f"input {index} has {tokens} tokens, more than the model's limit of {limit} (truncation policy: error)")
        self.index, self.tokens, self.limit = index, tokens, limit


TRUNCATION_POLICIES = ("truncate", "error")


def check_truncation(policy: str) -> None:
    if policy not in TRUNCATION_POLICIES:
        raise ValueError(f"truncation must be one of {TRUNCATION_POLICIES}, got {policy!r}")


class TruncationCounter:
    """How many inputs a model cut to its max_tokens (the server's /metrics reports it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.count += n


def matryoshka(vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
    """The first `dimensions` components, re-normalised (all of them when None)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if dimensions is not None:
        vectors = vectors[:, :dimensions]
    return l2_normalize(vectors)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def padding_groups(lengths: np.ndarray, max_batch: int, waste: float = 0.25) -> list[np.ndarray]:
    """Split rows into batches of similar token counts: each batch's padding (its rows times its
    longest row, minus the real tokens) stays within `waste` of its real tokens, or it is one row.

    Rows go in ascending length; a batch closes when the next row would break the bound or the
    batch holds `max_batch` rows. Every row appears in exactly one batch.
    """
    order = np.argsort(lengths, kind="stable")
    groups: list[np.ndarray] = []
    begin, real = 0, 0
    for position, row in enumerate(order):
        length = int(lengths[row])
        size = position - begin + 1
        # Ascending order: the newcomer is the longest, so the batch would be padded to its length.
        if size > 1 and (size > max_batch or size * length > (real + length) * (1 + waste)):
            groups.append(order[begin:position])
            begin, real = position, 0
        real += length
    if len(order):
        groups.append(order[begin:])
    return groups
