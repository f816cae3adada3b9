"""What the tests share besides fixtures: test doubles, catalogues, a real server process, the suite policy.

Test modules import from here (`from helpers import ...`), never from one another or from
conftest.py, which holds only fixtures and hooks. tests/ is on sys.path because pytest
imports its conftest.py and test modules (not a package) in "prepend" mode.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from shopsearch.models.base import EmbedderBase

FIXTURES = Path(__file__).parent / "fixtures"
ICECAT_SLICE = FIXTURES / "icecat_slice.json.zip"
ICECAT_MAP = ["brand=supplier", "description=name,short_description"]

# -- suites that need a program (markers registered in pyproject.toml) --------------------------

# .ci/run lists the suites whose program it installed; a skip in one of them is then a failure.
REQUIRE_SUITES_VAR = "SHOPSEARCH_REQUIRE_SUITES"
SUITE_PROGRAMS = {
    "ui": "Debian's chromium (apt-get install chromium), driven by Playwright (pip, shopsearch[test])",
    "redis": "redis-server (apt-get install redis-server) and the redis client (pip, shopsearch[redis])",
    "milvus": "milvus-lite and the Milvus 2.3.5 server (pip: pymilvus, milvus-lite, milvus in shopsearch[test])",
}


def required_suites(environ) -> set[str]:
    """The suites named in SHOPSEARCH_REQUIRE_SUITES (comma- or space-separated; unset: none)."""
    return {name.strip() for name in environ.get(REQUIRE_SUITES_VAR, "").replace(",", " ").split() if name.strip()}


# -- test doubles -------------------------------------------------------------------------------

class HashEmbedder(EmbedderBase):
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

    def embed_queries(self, texts, dimensions=None):
        self.check_dimensions(dimensions)
        return self._embed(texts)

    def embed_documents(self, texts, dimensions=None):
        self.check_dimensions(dimensions)
        return self._embed(texts)


class WordReranker:
    """Test double: relevance = share of the query's words in the document, or a scripted failure/delay."""

    name = "word-overlap-test"

    def __init__(self, fail: bool = False, delay_s: float = 0.0) -> None:
        self.fail, self.delay_s, self.calls, self.seen = fail, delay_s, 0, []

    def score(self, query, documents, instruction=None):
        self.calls += 1
        self.seen.append((query, list(documents), instruction))
        time.sleep(self.delay_s)
        if self.fail:
            raise ConnectionError("reranker unreachable")
        words = set(query.lower().split())
        return np.array([len(words & set(d.lower().split())) / len(words) for d in documents], dtype=np.float32)


# -- a catalogue of long, sectioned descriptions (chunking) --------------------------------------

FILLER = ("This product is made with care from quality materials and ships in recyclable packaging. "
          "It comes with a two year warranty and friendly customer support. ")
FEATURES = {
    3: "## Waterproofing\nSealed against water to 50 metres, for scuba diving and snorkelling.",
    11: "## Battery\nThe battery lasts for 40 hours of music playback on a single charge.",
    17: "## Cooking\nNon-stick ceramic coating for frying eggs and pancakes without oil.",
}


def catalogue():
    """24 gadgets whose descriptions run to several sections; items 3, 11 and 17 carry one FEATURES section each."""
    items = []
    for n in range(24):
        sections = [f"## Overview\n{FILLER * 5}", f"## Care\n{FILLER * 4}"]
        if n in FEATURES:
            sections.append(FEATURES[n])
        sections.append(f"## Warranty\n{FILLER * 4}")
        items.append({"id": str(n), "title": f"Acme Everyday Gadget {n}", "description": "\n\n".join(sections)})
    return items


# -- a real server process -------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data, key: str, catalogue: Path | None = None):
    """`shopsearch serve` over the Icecat slice (or another catalogue file, indexed as it is) as a real
    process on 127.0.0.1: (url, process)."""
    import subprocess
    import sys

    import httpx

    mapping = [] if catalogue else [a for m in ICECAT_MAP for a in ("--map", m)] + ["--price-scale", "0.01"]
    subprocess.run([sys.executable, "-m", "shopsearch.cli.main", "index", str(catalogue or ICECAT_SLICE), "--data-dir",
                    str(data), *mapping], check=True, capture_output=True)
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
    import subprocess

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a request stuck in a worker thread: never leave the server behind
            process.kill()
            process.wait(timeout=10)
            raise


def check_price_spans(query: str, parsed) -> None:
    """parse_price's spans are ordered, inside the query, and its text is the query without them."""
    last = 0
    for start, end in parsed.spans:
        assert last <= start < end <= len(query), parsed.spans
        last = end
    pieces, pos = [], 0
    for start, end in parsed.spans:
        pieces.append(query[pos:start])
        pos = end
    pieces.append(query[pos:])
    assert parsed.text == " ".join(" ".join(pieces).split())
    if parsed.price is None:
        assert parsed.spans == ()


class MilvusLiteServer:
    """`milvus-lite server` on 127.0.0.1 over a data directory; stopped and started again on the same port
    (a Milvus that goes away and comes back), always by its PID."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        import shutil
        import sys

        self.program = shutil.which("milvus-lite") or str(Path(sys.executable).parent / "milvus-lite")
        self.data_dir, self.log, self.port, self.process = data_dir, log, free_port(), None

    @property
    def uri(self) -> str:
        return f"milvus://127.0.0.1:{self.port}"

    def start(self, seconds: float = 60) -> None:
        import socket
        import subprocess

        if self.process is not None and self.process.poll() is None:
            return  # running
        with self.log.open("a") as out:
            self.process = subprocess.Popen([self.program, "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
                                             "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("milvus-lite server did not start: " + self.log.read_text()[-2000:]) from None
                time.sleep(0.2)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
