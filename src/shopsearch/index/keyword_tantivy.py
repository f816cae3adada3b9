"""Keyword index on tantivy (Lucene-style BM25, k1=1.2, b=0.75, per-field statistics).

Text is analysed by shopsearch's own analyzer (jieba, Snowball, model-number
aware) and handed to tantivy as space-separated terms with its whitespace
tokenizer, so indexing and querying share exactly one analysis.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import tantivy
from tantivy import Occur, Query

from .keyword import TEXT_FIELDS, Alternative, top_allowed

_STATE = "state.json"
# All text fields in one: BM25 saturates a term's frequency across the whole
# product (as Elasticsearch's copy_to / cross_fields do) instead of rewarding
# the same word once per field it is repeated in.
ALL_FIELD = "all"
SCORED_FIELDS = (ALL_FIELD, *TEXT_FIELDS)
class IncompatibleIndex(RuntimeError):
    """The on-disk keyword index has another schema than this version writes."""

log = logging.getLogger(__name__)


# Below this many allowed rows the filter goes into the query as a term set;
# above it, ranked hits are read deeper until enough pass the mask.
_TERM_SET_MAX = 1024


class TantivyKeywordIndex:
    def __init__(self, path: Path, boosts: Mapping[str, float], writable: bool = True) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        builder = tantivy.SchemaBuilder()
        # i64, not u64: tantivy-py builds delete terms for Python ints as i64, so
        # deletes by a u64 key silently match nothing.
        builder.add_integer_field("key", indexed=True, fast=True)
        for name in SCORED_FIELDS:
            # Term frequencies but no positions: BM25 needs no more, and the index stays small.
            builder.add_text_field(name, tokenizer_name="whitespace", index_option="freq")
        self._schema = builder.build()
        try:
            self._index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
        except ValueError as exc:
            raise IncompatibleIndex(
                f"{self.path} was written by another version of shopsearch ({exc}); re-index into a new directory"
            ) from None
        self._writable = writable
        self._writer = self._new_writer() if writable else None
        self._boosts = {name: float(boosts.get(name, 0.0)) for name in SCORED_FIELDS}
        if not any(self._boosts.values()):
            raise ValueError("at least one keyword field needs a positive boost")
        state = self.path / _STATE
        self.applied_seq = json.loads(state.read_text())["seq"] if state.exists() else 0

    def _new_writer(self):
        return self._index.writer(heap_size=64_000_000, num_threads=1)

    def apply(self, seq: int, upserts: Mapping[int, Mapping[str, str]], deletes: Sequence[int]) -> None:
        if not self._writable:
            raise RuntimeError("keyword index opened read-only")
        writer = self._writer = self._writer or self._new_writer()
        try:
            for row in [*upserts, *deletes]:
                writer.delete_documents_by_term("key", int(row))
            for row, fields in upserts.items():
                doc = tantivy.Document()
                doc.add_integer("key", int(row))
                for name in TEXT_FIELDS:
                    if fields.get(name):
                        doc.add_text(name, fields[name])
                doc.add_text(ALL_FIELD, " ".join(fields.get(name, "") for name in TEXT_FIELDS))
                writer.add_document(doc)
            writer.commit()
        except BaseException:
            # A writer whose threads died (a full disk) takes no more documents; the next apply gets a new one
            # (dropping this one releases the index's writer lock) and replays from applied_seq. `del`: the
            # traceback keeps this frame, and with it the writer and its lock, alive as long as the error is.
            self._writer = None
            del writer
            raise
        # The state file lags the commit: after a crash between the two, the
        # engine replays this batch, and replaying an upsert is harmless.
        tmp = self.path / (_STATE + ".tmp")
        tmp.write_text(json.dumps({"seq": seq}))
        os.replace(tmp, self.path / _STATE)
        self.applied_seq = seq
        self._index.reload()

    def search(
        self, groups: Sequence[tuple[str, ...]], limit: int, allowed: np.ndarray | None = None,
        alternatives: Sequence[Alternative] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        if not (groups or alternatives) or limit <= 0:
            return empty
        query = self._query(groups, alternatives)
        searcher = self._index.searcher()
        total = searcher.num_docs
        if allowed is None:
            return self._hits(searcher, query, limit)
        n_allowed = int(np.count_nonzero(allowed))
        if n_allowed == 0:
            return empty
        if n_allowed <= _TERM_SET_MAX:
            keys = np.flatnonzero(allowed).tolist()
            only = Query.const_score_query(Query.term_set_query(self._schema, "key", keys), 0.0)
            return self._hits(searcher, Query.boolean_query([(Occur.Must, query), (Occur.Must, only)]), limit)
        first = math.ceil(limit * len(allowed) / n_allowed * 1.5) + 16
        return top_allowed(lambda depth: self._hits(searcher, query, depth), limit, allowed, first, total)

    def _query(self, groups: Sequence[tuple[str, ...]], alternatives: Sequence[Alternative] = ()) -> Query:
        clauses = [(Occur.Should, q) for q in self._clauses(groups)]
        for alternative in alternatives:
            if alternative.groups and alternative.weight > 0:
                # Every word of the alternative, each scored over the fields as the query's own are.
                inner = [(Occur.Must, Query.boolean_query([(Occur.Should, q) for q in self._clauses([group])]))
                         for group in alternative.groups]
                clauses.append((Occur.Should, Query.boost_query(Query.boolean_query(inner), alternative.weight)))
        return Query.boolean_query(clauses)

    def _clauses(self, groups: Sequence[tuple[str, ...]]) -> list[Query]:
        clauses = []
        for name, boost in self._boosts.items():
            if boost <= 0:
                continue
            for group in groups:
                terms = [Query.term_query(self._schema, name, term, index_option="freq") for term in group]
                q = terms[0] if len(terms) == 1 else Query.disjunction_max_query(terms)
                clauses.append(q if boost == 1.0 else Query.boost_query(q, boost))
        return clauses

    def _hits(self, searcher, query: Query, limit: int) -> tuple[np.ndarray, np.ndarray]:
        hits = searcher.search(query, limit, count=False).hits
        if not hits:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = np.fromiter((score for score, _ in hits), dtype=np.float32, count=len(hits))
        keys = searcher.fast_field_values("key", [address for _, address in hits])
        return np.asarray(keys, dtype=np.int64), scores

    def refresh(self) -> None:
        self._index.reload()

    def count(self) -> int:
        return self._index.searcher().num_docs

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.wait_merging_threads()
            except ValueError as exc:  # its threads died (a full disk): what it had not committed, the next open replays
                log.warning("the keyword index's writer had failed (%s); the next open replays what it had not committed", exc)
