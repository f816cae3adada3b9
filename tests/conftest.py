from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopsearch import Engine
from shopsearch.index.ingest import BadRecord, FieldMapping, read_items

FIXTURES = Path(__file__).parent / "fixtures"
ICECAT_SLICE = FIXTURES / "icecat_slice.json.zip"
ICECAT_MAP = ["brand=supplier", "description=name,short_description"]


@pytest.fixture(scope="session")
def embedder():
    """The real default model, loaded once per test session."""
    from shopsearch.models.use_onnx import UseOnnxEmbedder

    return UseOnnxEmbedder(threads=1)


@pytest.fixture(scope="session")
def icecat_items():
    items = [it for _, it in read_items([ICECAT_SLICE], FieldMapping.parse(ICECAT_MAP, 0.01))]
    assert not any(isinstance(it, BadRecord) for it in items)
    return items


@pytest.fixture
def open_engine(tmp_path, embedder):
    opened = []

    def _open(path=None, **kwargs):
        kwargs.setdefault("embedder", embedder)
        engine = Engine.open(path or tmp_path / "data", **kwargs)
        opened.append(engine)
        return engine

    yield _open
    for engine in opened:
        engine.close()  # closing twice is harmless


@pytest.fixture
def icecat_engine(open_engine, icecat_items):
    engine = open_engine()
    engine.upsert(icecat_items)
    return engine


class HashEmbedder:
    """A deterministic stand-in model: bag of hashed words, for tests that need
    a second, different vector space or a model that fails on demand."""

    def __init__(self, dim: int = 32, name: str = "hash-test", fail: bool = False) -> None:
        self.dim, self.name, self.fail = dim, name, fail

    def _embed(self, texts):
        if self.fail:
            raise ConnectionError("model server unreachable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, hash(word) % self.dim] += 1.0
        out[:, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_queries(self, texts):
        return self._embed(texts)

    def embed_documents(self, texts):
        return self._embed(texts)
