"""Vector index on Milvus (Standalone, Distributed, or milvus-lite in a local file), behind the VectorIndex protocol.

The catalogue (SQLite) stays the source of truth, as with the embedded index:
Milvus holds one row per product (`row`, the catalogue's row number, and its
dense vector, plus every field's filter values: `keys` (normalised values
for eq/ne), `num_min` / `num_max` (for ranges), JSON fields computed as the
engine's own filter columns compute them; on servers 2.5+ also `brand`, `category` and
`price` as typed, nullable, indexed scalar columns, which filters on them use) and a local
state file records the
last catalogue sequence Milvus has been flushed with. Opening replays what
came after, and replaying twice is harmless because writes are upserts by
row. A filter goes to the server as the engine's row mask, a row-id
expression (the shorter of "in" or "not in"), while that is short; past
ROW_ID_LIMIT ids, the search's conditions become a Milvus expression over the
filter fields instead (unless a condition is on a field left out of them,
title or description, or the collection predates them).

With the keyword leg on Milvus too (SHOPSEARCH_KEYWORD__BACKEND=milvus, server 2.5+), the
collection also holds each product's text for the server's BM25 (see index/milvus.py),
written in the same upsert as its vector, and a hybrid search fused by reciprocal rank
runs as one `hybrid_search` on the server (fused_search).

Select it with SHOPSEARCH_VECTOR__BACKEND=milvus and SHOPSEARCH_VECTOR__URI=
milvus-lite:PATH (a local file) or milvus://HOST:19530.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..config import VectorConfig
from .filters import (
    PROMOTED_KEYS,
    PROMOTED_NUMBERS,
    Condition,
    filter_values,
    normalize_value,
    promoted_values,
    server_expression,
)
from .milvus import MAX_LIMIT, add_bm25_fields, hit_rows, milvus_client, require_bm25, row_filter, server_version, short_mask

_STATE = "milvus-state.json"
_BATCH = 1000
NULLABLE_SINCE = (2, 5)  # nullable scalar fields, which the promoted brand/category/price columns are
_KEY_BYTES = 1024
COLLECTION_NOT_LOADED = 101  # Milvus's error code for a collection that is not in memory


class MilvusVectorIndex:
    reads_during_writes = True  # the server orders reads and writes (strong consistency)
    remote = True

    def __init__(self, state_dir: Path, dim: int, config: VectorConfig, collection: str,
                 filter_fields: bool = True, text_of: Callable[[Mapping[str, Any]], str] | None = None,
                 bm25: bool = False) -> None:
        """text_of: a product's text for the server's BM25 (index/milvus.py bm25_document of its
        analysed fields), for a collection that holds one; bm25=True creates the collection so."""
        if not config.uri:
            raise ValueError("the milvus vector backend needs a URI: SHOPSEARCH_VECTOR__URI=milvus-lite:PATH or milvus://HOST:19530")
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._config = config
        self.collection = collection
        self._client = milvus_client(config.uri)
        self._text_of = text_of
        self.promoted: frozenset[str] = frozenset()
        self.has_text = False
        try:
            if bm25:
                require_bm25(self._client, config.uri)
            self.filters_on_server = self._ensure_collection(filter_fields, bm25)
        except BaseException:
            self._client.close()
            raise
        if self.has_text and text_of is None:
            self._client.close()
            raise ValueError(f"Milvus collection {collection!r} holds product text: writing to it needs text_of")
        state_file = self.state_dir / _STATE
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        if state and (state.get("uri"), state.get("collection")) != (config.uri, collection):
            state = {}  # another Milvus or collection than last time: replay everything into it
        self.applied_seq = int(state.get("applied_seq", 0))

    def _ensure_collection(self, filter_fields: bool, bm25: bool) -> bool:
        """Open or create the collection; whether it holds the filter fields."""
        from pymilvus import DataType

        if self._client.has_collection(self.collection):
            fields = self._client.describe_collection(self.collection)["fields"]
            dims = [f.get("params", {}).get("dim") for f in fields if f["name"] == "dense"]
            if dims and int(dims[0]) != self.dim:
                raise ValueError(f"Milvus collection {self.collection!r} holds {dims[0]}-d vectors, the model makes {self.dim}-d")
            self._client.load_collection(self.collection)
            names = {f["name"] for f in fields}
            self.has_text = "sparse" in names
            self.promoted = frozenset(names & {*PROMOTED_KEYS, *PROMOTED_NUMBERS})
            return {"keys", "num_min", "num_max"} <= names
        schema = self._client.create_schema(auto_id=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dim)
        for name in ("keys", "num_min", "num_max") if filter_fields else ():
            schema.add_field(name, DataType.JSON)
        index = self._client.prepare_index_params()
        index.add_index("dense", index_type="HNSW", metric_type="COSINE",
                        params={"M": self._config.m, "efConstruction": self._config.ef_construction})
        version = server_version(self._client)
        if filter_fields and (version is None or version >= NULLABLE_SINCE):
            # Brand, category and price also as typed, nullable, indexed scalar columns: a
            # filter on them reads an inverted index instead of parsing every row's JSON.
            # Servers before 2.5 have no nullable fields; there the JSON copies serve alone.
            for name in PROMOTED_KEYS:
                schema.add_field(name, DataType.VARCHAR, max_length=_KEY_BYTES, nullable=True)
            for name in PROMOTED_NUMBERS:
                schema.add_field(name, DataType.DOUBLE, nullable=True)
            for name in (*PROMOTED_KEYS, *PROMOTED_NUMBERS):
                index.add_index(name, index_type="INVERTED")
            self.promoted = frozenset((*PROMOTED_KEYS, *PROMOTED_NUMBERS))
        if bm25:
            add_bm25_fields(schema, index)
            self.has_text = True
        # Strong: a search right after a write sees it, as with the embedded index (Milvus's
        # default, Bounded, may answer from a few seconds ago).
        self._client.create_collection(self.collection, schema=schema, index_params=index, consistency_level="Strong")
        return filter_fields

    def apply(self, seq: int, rows: Sequence[int], vectors: np.ndarray, deletes: Sequence[int],
              records: Sequence[Mapping[str, Any]] | None = None) -> None:
        if (self.filters_on_server or self.has_text) and len(rows) and records is None:
            raise ValueError("this Milvus collection filters on the server: writes must carry the items' records")
        if len(deletes):
            self._client.delete(self.collection, ids=[int(r) for r in deletes], timeout=self._config.timeout_s)
        for start in range(0, len(rows), _BATCH):
            part = []
            for i in range(start, min(start + _BATCH, len(rows))):
                entity: dict[str, Any] = {"row": int(rows[i]), "dense": vectors[i].tolist()}
                if self.has_text:
                    # records: checked above; text_of: __init__ refuses a text collection without one.
                    assert records is not None and self._text_of is not None
                    entity["text"] = self._text_of(records[i])
                if self.filters_on_server:
                    assert records is not None  # checked above
                    entity["keys"], entity["num_min"], entity["num_max"] = filter_values(records[i])
                if self.promoted:
                    assert records is not None  # checked above: the promoted columns come with the filter fields
                    promoted = promoted_values(records[i])
                    for name in PROMOTED_KEYS:  # a key longer than the column holds stays in the JSON copy only
                        key = promoted[name]  # a str or None: promoted_values normalises keys to text
                        if isinstance(key, str) and len(key.encode()) > _KEY_BYTES:
                            promoted[name] = None
                    entity.update((name, promoted[name]) for name in self.promoted)
                part.append(entity)
            self._client.upsert(self.collection, part, timeout=self._config.timeout_s)
        self.applied_seq = max(self.applied_seq, seq)

    def filter_expression(self, allowed: np.ndarray | None, where: Sequence[Condition] | None,
                          long_lists: bool = True) -> str | None:
        """The mask as row ids while that list is short, else the conditions as an expression over
        the filter fields, else (conditions it cannot express) the long row-id list, or None
        when long_lists is False."""
        if allowed is None:
            return ""
        short = short_mask(allowed)
        if where and self.filters_on_server and not short:
            expression = server_expression(where, self._promotable(where))
            if expression is not None:
                return expression
        return row_filter(allowed) if short or long_lists else None

    def _promotable(self, where: Sequence[Condition]) -> frozenset[str]:
        """Promoted columns a filter may use: a brand or category value too long for its column
        is null there (kept in JSON only), so conditions naming such a value use the JSON copy."""
        fields = set(self.promoted)
        for condition in where:
            if condition.field in PROMOTED_KEYS and any(len(normalize_value(v).encode()) > _KEY_BYTES for v in condition.values):
                fields.discard(condition.field)
        return frozenset(fields)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               exact: bool = False, where: Sequence[Condition] | None = None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None and not allowed.any():
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        expression = self.filter_expression(allowed, where)
        if exact:  # every allowed vector, scored here: for measuring the server's recall
            assert expression is not None  # long_lists=True: filter_expression always gives one
            rows, vectors = self._vectors(expression=expression)
            scores = vectors @ np.asarray(query, np.float32)
            order = np.argsort(-scores, kind="stable")[:k]
            return rows[order], scores[order].astype(np.float32)
        hits = self._loaded(lambda: self._client.search(
            self.collection, data=[np.asarray(query, np.float32).tolist()], anns_field="dense", limit=min(k, MAX_LIMIT),
            filter=expression, search_params={"metric_type": "COSINE", "params": {"ef": max(self._config.ef_search, k)}},
            consistency_level="Strong", timeout=self._config.timeout_s))[0]
        return hit_rows(hits), np.asarray([hit["distance"] for hit in hits], dtype=np.float32)

    def fused_search(self, query: np.ndarray, text: str, depth: int, rrf_k: float, allowed: np.ndarray | None,
                     where: Sequence[Condition] | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The dense and BM25 legs, each `depth` deep under the same filter, fused on the server by
        reciprocal rank (sum of 1 / (rrf_k + rank), rank from 1): (rows, fused scores), best first.
        None when the server cannot answer it as asked: no text here, or a filter it could only
        take as a row-id list over ROW_ID_LIMIT (the caller then fuses locally)."""
        from pymilvus import AnnSearchRequest, RRFRanker

        expression = self.filter_expression(allowed, where, long_lists=False)
        if not self.has_text or expression is None or depth > MAX_LIMIT or rrf_k != int(rrf_k) or not 0 < rrf_k < MAX_LIMIT:
            return None  # the server's RRF takes an integer k below 16,384
        if (allowed is not None and not allowed.any()) or not text:
            return None  # nothing to fuse: the caller's legs say so (an empty keyword leg, say)
        legs = [AnnSearchRequest(data=[np.asarray(query, np.float32).tolist()], anns_field="dense", limit=depth,
                                 param={"metric_type": "COSINE", "params": {"ef": max(self._config.ef_search, depth)}},
                                 expr=expression),
                AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"}, limit=depth,
                                 expr=expression)]
        hits = self._loaded(lambda: self._client.hybrid_search(self.collection, legs, ranker=RRFRanker(int(rrf_k)), limit=depth,
                                                               consistency_level="Strong", timeout=self._config.timeout_s))[0]
        return hit_rows(hits), np.asarray([hit["distance"] for hit in hits], dtype=np.float32)

    def _loaded(self, read: Callable[[], Any]) -> Any:
        """read(), loading the collection first if the server released it: a Milvus restarted (milvus-lite, or a
        cluster whose query nodes all went) holds it on disk but not in memory, and refuses searches until then."""
        from pymilvus import MilvusException

        try:
            return read()
        except MilvusException as exc:
            if exc.code != COLLECTION_NOT_LOADED:
                raise
        self._client.load_collection(self.collection, timeout=self._config.timeout_s)
        return read()

    def _vectors(self, rows: np.ndarray | None = None, expression: str = "") -> tuple[np.ndarray, np.ndarray]:
        if rows is not None:
            found = [] if not len(rows) else self._loaded(lambda: self._client.get(
                self.collection, ids=[int(r) for r in rows], output_fields=["dense"], consistency_level="Strong",
                timeout=self._config.timeout_s))
        else:
            found = list(self._loaded(lambda: self._client.query(
                self.collection, filter=expression or "row >= 0", output_fields=["row", "dense"], consistency_level="Strong",
                timeout=self._config.timeout_s)))
        ids = np.asarray([f["row"] for f in found], dtype=np.int64)
        vectors = np.asarray([f["dense"] for f in found], dtype=np.float32).reshape(len(found), self.dim)
        return ids, vectors

    def similarity(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        ids, vectors = self._vectors(rows)
        by_row = dict(zip(ids.tolist(), (vectors @ np.asarray(query, np.float32)).tolist()))
        return np.asarray([by_row.get(int(r), 0.0) for r in rows], dtype=np.float32)

    def centroid(self, rows: np.ndarray) -> np.ndarray:
        _, vectors = self._vectors(rows)
        if not len(vectors):
            return np.zeros(self.dim, np.float32)
        mean = vectors.mean(axis=0)
        norm = np.linalg.norm(mean)
        return (mean / norm if norm else mean).astype(np.float32)

    def save(self) -> None:
        # Flushed segments are durable on the server (and scanned fast); only then is the
        # sequence recorded, so a crash before this point replays the batch again.
        self._client.flush(self.collection)
        state = {"uri": self._config.uri, "collection": self.collection, "applied_seq": self.applied_seq, "dim": self.dim}
        partial = self.state_dir / (_STATE + ".partial")
        partial.write_text(json.dumps(state))
        os.replace(partial, self.state_dir / _STATE)

    def count(self) -> int:
        answer = self._loaded(lambda: self._client.query(self.collection, filter="", output_fields=["count(*)"],
                                                         consistency_level="Strong", timeout=self._config.timeout_s))
        return int(answer[0]["count(*)"]) if answer else 0

    def size_bytes(self) -> int:
        return self.count() * self.dim * 4  # the vectors; the server's graph and segments live on the server

    def close(self) -> None:
        self._client.close()
