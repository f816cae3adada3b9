"""The catalogue's frequent words embedded with the directory's model: where a query word of another
language finds the catalogue's words for it (text/crosslingual.py).

Built from the lexicon's vocabulary (every word used by at least `min_count` products), each word
embedded as a query once; the vectors are saved in the data directory (terms/, named by model) so a
restart or a replica embeds only the words added since. Memory: 4 bytes x the model's dimensions per
term (1.5 KB at 384), plus the words.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from ..models import Embedder
from ..text.crosslingual import nearest_terms
from ..text.typos import is_letter_word

EMBED_BATCH = 512


class CatalogueTerms:
    def __init__(self, words: list[str], vectors: np.ndarray) -> None:
        self.words = words
        self.vectors = vectors
        self._position = {word: i for i, word in enumerate(words)}
        self._lookups: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @classmethod
    def build(cls, counts: dict[str, int], embedder: Embedder, folder: Path, min_count: int, save: bool = True,
              previous: "CatalogueTerms | None" = None) -> "CatalogueTerms":
        """The terms of a vocabulary ({word: products using it}). Vectors, and the query words' seen so far, are
        reused from `previous` (the same model's, in memory), else read from `folder`; with `save`, the new set
        is saved there."""
        words = sorted(w for w, n in counts.items() if n >= min_count and len(w) >= 2 and is_letter_word(w))
        # The set held in memory already has the words saved before: the file is read only on the first build.
        cached = dict(zip(previous.words, previous.vectors)) if previous is not None else _load(folder, embedder)
        missing = [w for w in words if w not in cached]
        for start in range(0, len(missing), EMBED_BATCH):
            part = missing[start:start + EMBED_BATCH]
            cached.update(zip(part, embedder.embed_queries(part)))
        vectors = np.asarray([cached[w] for w in words], dtype=np.float32).reshape(len(words), embedder.dim)
        if save and missing:
            _save(folder, embedder, words, vectors)
        terms = cls(words, vectors)
        if previous is not None:
            terms._lookups, terms._lock = previous._lookups, previous._lock  # one cache, one guard
        return terms

    def translate(self, word_vectors: np.ndarray, limit: int, threshold: float, margin: float,
                  among: set[str] | None = None) -> list[list[tuple[str, float]]]:
        """Each query word vector's nearest catalogue terms (text/crosslingual.nearest_terms), best first;
        `among`: only these words are candidates."""
        if among is None:
            found = nearest_terms(word_vectors, self.vectors, limit, threshold, margin)
            return [[(self.words[i], score) for i, score in row] for row in found]
        index = sorted(self._position[w] for w in among if w in self._position)
        found = nearest_terms(word_vectors, self.vectors[index], limit, threshold, margin)
        return [[(self.words[index[i]], score) for i, score in row] for row in found]

    def word_vectors(self, words: list[str], embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The query words' vectors, each embedded once per process (kept: shoppers repeat words)."""
        with self._lock:
            missing = [w for w in dict.fromkeys(words) if w not in self._lookups]
        if missing:
            fresh = embed(missing)
            with self._lock:
                if len(self._lookups) > 100_000:
                    self._lookups.clear()
                self._lookups.update(zip(missing, fresh))
        with self._lock:
            return np.asarray([self._lookups[w] for w in words], dtype=np.float32)


def _path(folder: Path, embedder: Embedder) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in embedder.name)
    return folder / f"{safe}-{embedder.dim}.npz"


def _load(folder: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    try:
        with np.load(_path(folder, embedder)) as saved:
            words = json.loads(str(saved["words"]))
            return dict(zip(words, saved["vectors"]))
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return {}


def _save(folder: Path, embedder: Embedder, words: list[str], vectors: np.ndarray) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = _path(folder, embedder)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, words=np.asarray(json.dumps(words)), vectors=vectors)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache: the next build embeds these words again
