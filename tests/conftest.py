from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopsearch import Engine
from shopsearch.index.ingest import BadRecord, FieldMapping, read_items

FIXTURES = Path(__file__).parent / "fixtures"
ICECAT_SLICE = FIXTURES / "icecat_slice.json.zip"
ICECAT_MAP = ["brand=supplier", "description=name,short_description"]


@pytest.fixture(scope="session", autouse=True)
def private_model_cache(tmp_path_factory):
    """Exported ONNX graphs go to a per-run folder (servers started by tests inherit it), not ~/.cache."""
    import os

    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def embedder():
    """The real default model, loaded once per test session."""
    from shopsearch.models.e5_onnx import E5SmallEmbedder

    return E5SmallEmbedder(threads=1)


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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data, key: str):
    """`shopsearch serve` over the Icecat slice as a real process on 127.0.0.1: (url, process)."""
    import subprocess
    import sys
    import time

    import httpx

    subprocess.run([sys.executable, "-m", "shopsearch.cli.main", "index", str(ICECAT_SLICE), "--data-dir", str(data),
                    *[a for m in ICECAT_MAP for a in ("--map", m)], "--price-scale", "0.01"], check=True, capture_output=True)
    keys = data / "keys.txt"
    keys.write_text(f"# test key\n{key}\n")
    port = free_port()
    log = data / "server.log"  # a file, not a pipe: an undrained pipe fills and blocks the server
    process = subprocess.Popen([sys.executable, "-m", "shopsearch.cli.main", "serve", "--data-dir", str(data),
                                "--port", str(port), "--api-key-file", str(keys)],
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return url, process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("server did not start: " + log.read_text())


def stop_server(process) -> None:
    import signal

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
