"""Eval-gated model migration, the search side: searches answered by a candidate model, and swaps asked of a server.

The vectors themselves are index/migration.py's. A migration run by `shopsearch migrate` beside a
server (which holds the directory's write lock) cannot swap itself: it writes a request into the
migration folder, and the server's SwapRequests thread, the directory's writer, swaps (a last
catch-up with the new model, then the swap with writes held) and answers in the same folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import DataDirError
from ..index.backends import Backends
from ..index.migration import VectorSet
from ..models import Embedder
from . import pipeline
from .context import SearchContext
from .plan import SearchPlan
from .response import SearchResponse

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

REQUEST, ANSWER = "swap-request.json", "swap-answer.json"


class CandidateSearch:
    """Searches as the live directory answers them, but with a vector set's model and vectors in place of
    its own (the keyword index, filters and catalogue shared): what a migration evaluates."""

    def __init__(self, backends: Backends, vectors: VectorSet, embedder: Embedder) -> None:
        folder = vectors.path.parent
        vector, chunks = vectors.indexes(backends, folder / "eval-vector", folder / "eval-vector-chunks")
        view = dataclasses.replace(backends, embedder=embedder, vector=vector, chunks=chunks, lock_fd=None)
        self._context = SearchContext(view, backends.config)

    def search(self, query: str, **request: Any) -> SearchResponse:
        context = self._context
        return pipeline.search(SearchPlan.build(query, context.config.search, context.abilities, **request), context)

    def close(self) -> None:
        self._context.backends.vector.close()
        self._context.backends.chunks.close()


def request_swap(data_dir: Path, spec: str, timeout_s: float, poll_s: float = 0.2) -> dict:
    """Ask the server writing `data_dir` to swap in the candidate vector set of `spec`; its answer
    ({"id", "ok": bool, "writes_held_s" or "error"}), or DataDirError when none comes within timeout_s."""
    folder = VectorSet.directory(data_dir)
    ident = uuid.uuid4().hex
    (folder / ANSWER).unlink(missing_ok=True)
    _write_json(folder / REQUEST, {"id": ident, "spec": spec})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = _read_json(folder / ANSWER)
        if answer is not None and answer.get("id") == ident:
            return answer
        time.sleep(poll_s)
    (folder / REQUEST).unlink(missing_ok=True)
    raise DataDirError(f"no server writing {data_dir} answered the swap request within {timeout_s:.0f} s "
                       "(is `shopsearch serve` running on it without --read-only?)")


class SwapRequests:
    """The writer's thread answering request_swap: polls the migration folder every `interval` seconds."""

    def __init__(self, engine: Engine, make_embedder: Callable[[str], Embedder], interval: float = 0.5) -> None:
        self.engine, self.make_embedder, self.interval = engine, make_embedder, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="swap-requests", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        folder = VectorSet.directory(self.engine.data_dir)
        while not self._stop.wait(self.interval):
            request = _read_json(folder / REQUEST)
            if request is None:
                continue
            (folder / REQUEST).unlink(missing_ok=True)
            try:
                vectors = self.engine.vector_set()
                if vectors is None or vectors.spec != request.get("spec"):
                    raise DataDirError(f"no vector set of {request.get('spec')!r} in {folder}")
                embedder = self.make_embedder(vectors.spec)
                started = time.monotonic()
                self.engine.swap_model(vectors, embedder)
                answer = {"id": request.get("id"), "ok": True, "writes_held_s": round(time.monotonic() - started, 3)}
            except Exception as exc:  # noqa: BLE001 - the requester reads why; the server goes on as it was
                log.warning("swap request refused: %s", exc)
                answer = {"id": request.get("id"), "ok": False, "error": str(exc)}
            _write_json(folder / ANSWER, answer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
