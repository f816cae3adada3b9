"""Vector index on hnswlib (HNSW graph, inner product on unit vectors = cosine).

Filtered search is planned the way Qdrant plans it: when a filter leaves few
rows, an exact scan of just those rows is both faster and exact; otherwise the
graph is searched with the filter applied during traversal, and if the graph
walk still comes back short of k (a very fragmented filter), the exact scan
answers instead. Either way a filter never cuts down a finished top k.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import hnswlib
import numpy as np

from ..config import VectorConfig
from .exact import top_rows
from .vector import fit_mask

_STATE = "state.json"


class HnswVectorIndex:
    reads_during_writes = False  # an insert re-links graph nodes a concurrent walk may be reading
    remote = False

    def __init__(self, path: Path, dim: int, config: VectorConfig) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._config = config
        self.applied_seq = 0
        self._ef = 0
        # Exact copies of the vectors by row: the exact-scan plan reads them,
        # and a snapshot reloads the graph without re-embedding anything.
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._present = np.zeros(0, dtype=bool)
        self._in_graph = np.zeros(0, dtype=bool)  # present, or deleted but still a graph node
        self._graph = self._new_graph(1024)
        self._load()

    def _new_graph(self, capacity: int) -> hnswlib.Index:
        graph = hnswlib.Index(space="ip", dim=self.dim)
        graph.init_index(max_elements=capacity, M=self._config.m, ef_construction=self._config.ef_construction)
        graph.set_num_threads(1)
        return graph

    def _load(self) -> None:
        state_file = self.path / _STATE
        if not state_file.exists():
            return
        state = json.loads(state_file.read_text())
        if "kind" in state:
            return  # another backend's snapshot (faiss): start empty, the engine replays the catalogue
        if state["dim"] != self.dim:
            raise ValueError(f"vector index holds {state['dim']}-d vectors, the model makes {self.dim}-d")
        graph = hnswlib.Index(space="ip", dim=self.dim)
        graph.load_index(str(self.path / state["graph"]), max_elements=state["capacity"])
        graph.set_num_threads(1)
        self._graph = graph
        self._ef = 0
        self._vectors = np.load(self.path / state["vectors"])
        self._present = np.load(self.path / state["present"])
        self._in_graph = np.load(self.path / state["in_graph"])
        self._ensure_rows(state["capacity"] - 1)
        self.applied_seq = state["seq"]

    def _ensure_rows(self, max_row: int) -> None:
        if max_row < len(self._present):
            return
        size = max(max_row + 1, 2 * len(self._present), 1024)
        vectors = np.zeros((size, self.dim), dtype=np.float32)
        vectors[: len(self._vectors)] = self._vectors
        present = np.zeros(size, dtype=bool)
        present[: len(self._present)] = self._present
        in_graph = np.zeros(size, dtype=bool)
        in_graph[: len(self._in_graph)] = self._in_graph
        self._vectors, self._present, self._in_graph = vectors, present, in_graph
        if size > self._graph.get_max_elements():
            self._graph.resize_index(size)

    def apply(self, seq: int, rows: Sequence[int], vectors: np.ndarray, deletes: Sequence[int],
              records=None) -> None:
        ids = np.asarray(rows, dtype=np.int64)
        if len(ids):
            self._ensure_rows(int(ids.max()))
            for row in ids[self._in_graph[ids] & ~self._present[ids]]:  # deleted earlier, coming back
                self._graph.unmark_deleted(int(row))
            # Adding an existing label replaces its vector and re-links it.
            self._graph.add_items(vectors, ids)
            self._vectors[ids] = vectors
            self._present[ids] = True
            self._in_graph[ids] = True
        for row in deletes:
            if row < len(self._present) and self._present[row]:
                self._graph.mark_deleted(int(row))
                self._present[row] = False
        self.applied_seq = seq

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, exact: bool = False, where=None
    ) -> tuple[np.ndarray, np.ndarray]:
        # `where` is for server-side backends; the mask is all this index needs.
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        n_present = int(np.count_nonzero(self._present))
        if n_present == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        candidates = self._present
        if allowed is not None:
            candidates = self._present & fit_mask(allowed, len(self._present))
            n_allowed = int(np.count_nonzero(candidates))
            if n_allowed == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            if exact or n_allowed * n_allowed <= self._config.exact_scan_ratio * n_present:
                return self._exact(query, np.flatnonzero(candidates), k)
        if exact:
            return self._exact(query, np.flatnonzero(candidates), k)
        k_eff = min(k, int(np.count_nonzero(candidates)))
        ef = max(self._config.ef_search, k_eff)
        if ef != self._ef:
            # ef is the graph's one setting, shared by concurrent readers: a reader asking for
            # more than ef_search raises it for the walks running beside it (more exact, not less).
            self._ef = ef
            self._graph.set_ef(ef)
        flags = candidates
        try:
            labels, distances = self._graph.knn_query(
                query, k=k_eff, filter=None if allowed is None else (lambda label: bool(flags[label]))
            )
        except RuntimeError:  # hnswlib found fewer than k allowed rows in its walk
            return self._exact(query, np.flatnonzero(candidates), k)
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)

    def similarity(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        inside = rows < len(self._present)
        inside[inside] = self._present[rows[inside]]  # a deleted row has no vector
        out = np.zeros(len(rows), dtype=np.float32)
        out[inside] = self._vectors[rows[inside]] @ np.asarray(query, dtype=np.float32).reshape(-1)
        return out

    def centroid(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[rows < len(self._present)]
        total = self._vectors[rows[self._present[rows]]].sum(axis=0) if len(rows) else np.zeros(self.dim, np.float32)
        norm = float(np.linalg.norm(total))
        return (total / norm if norm > 0 else total).astype(np.float32)

    def _exact(self, query: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return top_rows(self._vectors, rows, query, k)

    def save(self) -> None:
        stamp = f"{self.applied_seq}-{os.getpid()}"
        names = {"graph": f"graph-{stamp}.bin", "vectors": f"vectors-{stamp}.npy", "present": f"present-{stamp}.npy",
                 "in_graph": f"in-graph-{stamp}.npy"}
        tmp = self.path / (_STATE + ".tmp")
        try:
            self._graph.save_index(str(self.path / names["graph"]))
            used = int(np.flatnonzero(self._in_graph).max()) + 1 if self._in_graph.any() else 0
            np.save(self.path / names["vectors"], self._vectors[:used])
            np.save(self.path / names["present"], self._present[:used])
            np.save(self.path / names["in_graph"], self._in_graph[:used])
            for name in names.values():
                with open(self.path / name, "rb") as f:
                    os.fsync(f.fileno())
            state = {"seq": self.applied_seq, "dim": self.dim, "capacity": self._graph.get_max_elements(), **names}
            tmp.write_text(json.dumps(state))
        except BaseException:  # a full disk, say: the previous snapshot stands, and this one's pieces go
            for name in [*names.values(), tmp.name]:
                (self.path / name).unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path / _STATE)  # the snapshot switch is this one atomic rename
        for old in self.path.iterdir():
            if old.name not in names.values() and old.name != _STATE and old.suffix in (".bin", ".npy"):
                old.unlink(missing_ok=True)

    def count(self) -> int:
        return int(np.count_nonzero(self._present))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def close(self) -> None:
        pass  # in memory and files: nothing held open

