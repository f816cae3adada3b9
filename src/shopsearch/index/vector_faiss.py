"""Vector index on faiss (an HNSW graph over float32 vectors, inner product on unit vectors = cosine).

Why faiss beside hnswlib (benchmarks/bench_ann.py, docs/benchmarks.md): a filter reaches faiss as a
bitmap read in C++, where hnswlib calls back into Python for every node its walk visits; and the
exact scan reads the graph's own copy of the vectors, so an item costs one float32 vector and its
links (~1.9 KB at 384-d, M=16), not the two copies the hnswlib backend keeps. faiss picks its SIMD
kernels (AVX2, AVX-512) for the CPU it runs on when it loads.

faiss's HNSW can neither delete nor replace a vector, so the graph's nodes map to catalogue rows:
a deleted row's node stays in the graph, dead, and a row whose vector changes gets a new node. Every
search then selects the live nodes a filter allows. When dead nodes outnumber live ones the graph
is rebuilt from the live vectors (at a write, so reads never wait for it).

Filtered search is planned as the hnswlib backend plans it (by cost, Qdrant's rule): a filter
leaving few rows is an exact scan of those rows; otherwise the graph is walked with the filter, its
search breadth divided by the share of nodes allowed (faiss counts the nodes it skips against the
breadth), and a walk that still comes back short is answered by the exact scan.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import VectorConfig
from .exact import top_rows
from .vector import fit_mask

_STATE = "state.json"
_KIND = "faiss-hnsw-flat"


def _faiss():
    try:
        import faiss
    except ImportError:  # the faiss extra is not installed
        raise ImportError("the faiss vector backend needs faiss: pip install 'shopsearch[faiss]'") from None
    return faiss


class FaissVectorIndex:
    reads_during_writes = False  # an insert re-links graph nodes a concurrent walk may be reading
    remote = False

    def __init__(self, path: Path, dim: int, config: VectorConfig) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._config = config
        self.applied_seq = 0
        self._graph = self._new_graph()
        self._row_of_node = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)  # per node: its row's current vector
        self._node_of_row = np.full(0, -1, dtype=np.int64)
        self._load()

    def _new_graph(self):
        faiss = _faiss()
        graph = faiss.IndexHNSWFlat(self.dim, self._config.m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self._config.ef_construction
        return graph

    def _load(self) -> None:
        state_file = self.path / _STATE
        if not state_file.exists():
            return
        state = json.loads(state_file.read_text())
        if state.get("kind") != _KIND:
            return  # another backend's snapshot (hnswlib): start empty, the engine replays the catalogue
        if state["dim"] != self.dim:
            raise ValueError(f"vector index holds {state['dim']}-d vectors, the model makes {self.dim}-d")
        self._graph = _faiss().read_index(str(self.path / state["graph"]))
        self._graph.hnsw.efConstruction = self._config.ef_construction
        self._row_of_node = np.load(self.path / state["rows"])
        self._alive = np.load(self.path / state["alive"])
        self._node_of_row = np.full(int(self._row_of_node.max()) + 1 if len(self._row_of_node) else 0, -1, np.int64)
        live = np.flatnonzero(self._alive)
        self._node_of_row[self._row_of_node[live]] = live
        self.applied_seq = state["seq"]

    def _stored(self) -> np.ndarray:
        """The graph's vectors by node, as a view of faiss's own storage (no copy)."""
        n = self._graph.ntotal
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        storage = _faiss().downcast_index(self._graph.storage)
        return _faiss().rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)

    def _nodes(self, rows: np.ndarray) -> np.ndarray:
        """Each row's live node, -1 where it has none."""
        out = np.full(len(rows), -1, dtype=np.int64)
        inside = (rows >= 0) & (rows < len(self._node_of_row))
        out[inside] = self._node_of_row[rows[inside]]
        return out

    def apply(self, seq: int, rows: Sequence[int], vectors: np.ndarray, deletes: Sequence[int],
              records=None) -> None:
        rows_arr = np.asarray(rows, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(rows_arr), self.dim)
        if len(rows_arr):
            # A row given twice in one batch keeps its last vector.
            last = len(rows_arr) - 1 - np.unique(rows_arr[::-1], return_index=True)[1]
            rows_arr, vectors = rows_arr[last], vectors[last]
            old = self._nodes(rows_arr)
            # An unchanged vector (a price update re-sends the same text) keeps its node.
            same = old >= 0
            if same.any():
                same[same] = np.all(self._stored()[old[same]] == vectors[same], axis=1)
            rows_arr, vectors, old = rows_arr[~same], vectors[~same], old[~same]
        if len(rows_arr):
            self._alive[old[old >= 0]] = False
            first = self._graph.ntotal
            faiss = _faiss()
            faiss.omp_set_num_threads(os.cpu_count() or 1)  # writes hold readers out: build on every core
            try:
                self._graph.add(vectors)
            finally:
                faiss.omp_set_num_threads(1)  # one query is one thread; spinning workers only cost
            self._row_of_node = np.concatenate([self._row_of_node, rows_arr])
            self._alive = np.concatenate([self._alive, np.ones(len(rows_arr), dtype=bool)])
            if int(rows_arr.max()) >= len(self._node_of_row):
                grown = np.full(max(int(rows_arr.max()) + 1, 2 * len(self._node_of_row)), -1, np.int64)
                grown[: len(self._node_of_row)] = self._node_of_row
                self._node_of_row = grown
            self._node_of_row[rows_arr] = np.arange(first, first + len(rows_arr))
        gone = self._nodes(np.asarray(deletes, dtype=np.int64))
        self._alive[gone[gone >= 0]] = False
        deleted = np.asarray(deletes, dtype=np.int64)[gone >= 0]
        self._node_of_row[deleted] = -1
        if self._graph.ntotal > 1024 and np.count_nonzero(self._alive) * 2 < self._graph.ntotal:
            self._rebuild()
        self.applied_seq = seq

    def _rebuild(self) -> None:
        live = np.flatnonzero(self._alive)
        vectors, rows = np.array(self._stored()[live]), self._row_of_node[live]
        self._graph = self._new_graph()
        self._row_of_node = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._node_of_row[:] = -1
        self.apply(self.applied_seq, rows.tolist(), vectors, [])

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None, exact: bool = False, where=None
    ) -> tuple[np.ndarray, np.ndarray]:
        # `where` is for server-side backends; the mask is all this index needs.
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        n_live = int(np.count_nonzero(self._alive))
        if n_live == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        selected = self._alive
        if allowed is not None:
            selected = self._alive & fit_mask(np.asarray(allowed, dtype=bool), len(self._node_of_row))[self._row_of_node]
        n_selected = n_live if selected is self._alive else int(np.count_nonzero(selected))
        if n_selected == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if exact or (allowed is not None and n_selected * n_selected <= self._config.exact_scan_ratio * n_live):
            return self._exact(query, selected, k)
        faiss = _faiss()
        k_eff = min(k, n_selected)
        params = faiss.SearchParametersHNSW()
        share = n_selected / self._graph.ntotal
        params.efSearch = int(min(self._graph.ntotal, max(self._config.ef_search, k_eff) / share))
        if n_selected < self._graph.ntotal:
            bits = np.packbits(selected, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(selected), faiss.swig_ptr(bits))
        scores, nodes = self._graph.search(query, k_eff, params=params)
        found = nodes[0] >= 0
        if int(np.count_nonzero(found)) < k_eff:  # the walk found fewer allowed rows than asked
            return self._exact(query, selected, k)
        return self._row_of_node[nodes[0]], scores[0].astype(np.float32)

    def _exact(self, query: np.ndarray, selected: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nodes, scores = top_rows(self._stored(), np.flatnonzero(selected), query[0], k)
        rows = self._row_of_node[nodes]
        order = np.lexsort((rows, -scores))  # equal scores by row, as the other backends order them
        return rows[order], scores[order]

    def similarity(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        nodes = self._nodes(np.asarray(rows, dtype=np.int64))
        out = np.zeros(len(nodes), dtype=np.float32)
        has = nodes >= 0
        out[has] = self._stored()[nodes[has]] @ np.asarray(query, dtype=np.float32).reshape(-1)
        return out

    def centroid(self, rows: np.ndarray) -> np.ndarray:
        nodes = self._nodes(np.asarray(rows, dtype=np.int64))
        nodes = nodes[nodes >= 0]
        total = self._stored()[nodes].sum(axis=0) if len(nodes) else np.zeros(self.dim, np.float32)
        norm = float(np.linalg.norm(total))
        return (total / norm if norm > 0 else total).astype(np.float32)

    def save(self) -> None:
        stamp = f"{self.applied_seq}-{os.getpid()}"
        names = {"graph": f"faiss-{stamp}.index", "rows": f"rows-{stamp}.npy", "alive": f"alive-{stamp}.npy"}
        tmp = self.path / (_STATE + ".tmp")
        try:
            _faiss().write_index(self._graph, str(self.path / names["graph"]))
            np.save(self.path / names["rows"], self._row_of_node)
            np.save(self.path / names["alive"], self._alive)
            for name in names.values():
                with open(self.path / name, "rb") as f:
                    os.fsync(f.fileno())
            tmp.write_text(json.dumps({"kind": _KIND, "seq": self.applied_seq, "dim": self.dim, **names}))
        except BaseException:  # a full disk, say: the previous snapshot stands, and this one's pieces go
            for name in [*names.values(), tmp.name]:
                (self.path / name).unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path / _STATE)  # the snapshot switch is this one atomic rename
        for old in self.path.iterdir():
            if old.name not in names.values() and old.name != _STATE and old.suffix in (".index", ".bin", ".npy"):
                old.unlink(missing_ok=True)

    def count(self) -> int:
        return int(np.count_nonzero(self._alive))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def close(self) -> None:
        pass  # in memory and files: nothing held open

