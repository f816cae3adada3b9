"""What a write embeds: each changed item's text and its long description's chunks, except where the
text the model reads is what is stored already (a price, stock or attribute change): the item then
keeps its stored vector and chunks, and the model is not called for it.

Reuse compares the texts the model would read (the embedding text, and the title and description
the chunks come from); the data directory holds one model (index/backends.py checks it), so equal
texts mean equal vectors.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import InvalidRequest
from ..index.backends import Backends
from ..index.items import Item
from ..index.store import ChunkRecord
from ..text.chunking import Chunk, chunk_text
from .response import WriteResult


def upsert(backends: Backends, items: Iterable[Item | Mapping[str, Any]], chunk_tokens: int) -> tuple[WriteResult, int]:
    """Insert or replace items by id as one committed batch: (the result, texts embedded).

    Items already stored exactly as given are skipped (not embedded again): re-running an
    interrupted `shopsearch index` resumes where the committed batches end, at the cost of
    reading them, and re-indexing an unchanged catalogue costs no model calls."""
    latest: dict[str, Item] = {}
    for item in items:
        item = item if isinstance(item, Item) else Item.from_record(item)
        latest[item.id] = item  # the last version of an id within a batch wins
    with backends.writer:
        stored = backends.store.records_by_id(list(latest))
        batch = [item for item in latest.values() if stored.get(item.id) != item.to_record()]
        previous = [stored[item.id] for item in batch if item.id in stored]
        unchanged = len(latest) - len(batch)
        if not batch:
            return WriteResult(backends.store.last_seq(), len(latest), unchanged), 0
        vectors, chunk_records, embedded = embedded_batch(backends, batch, stored, chunk_tokens)
        seq, rows = backends.commit_upsert(batch, vectors, chunk_records, previous)
    return WriteResult(seq, len(rows) + unchanged, unchanged), embedded


def patched(stored: Mapping[str, Any] | None, item_id: str, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """A stored record with a JSON merge patch applied (a null removes the field); None for no record."""
    if stored is None:
        return None
    if "id" in fields and str(fields["id"]) != item_id:
        raise InvalidRequest("a patch cannot change an item's id", "id")
    merged = {**stored, **{name: value for name, value in fields.items() if value is not None}}
    for name in (name for name, value in fields.items() if value is None):
        merged.pop(name, None)
    return merged


def delete(backends: Backends, ids: Iterable[str]) -> WriteResult:
    """Delete items by id (unknown ids are ignored), as one committed batch."""
    with backends.writer:
        ids = [str(i) for i in ids]
        previous = list(backends.store.records_by_id(ids).values())
        seq, rows = backends.commit_delete(ids, previous)
    return WriteResult(seq, len(rows))


def embedded_batch(backends: Backends, batch: Sequence[Item], stored: Mapping[str, Mapping[str, Any]],
                   chunk_tokens: int) -> tuple[np.ndarray, list[list[ChunkRecord]], int]:
    """(vectors, chunk records, texts embedded) for `batch`, in its order; `stored`: the current records by id."""
    kept = _kept(backends, batch, stored)
    fresh = [i for i in range(len(batch)) if i not in kept]
    chunked = {i: chunks_of(backends, batch[i], chunk_tokens) for i in fresh}
    texts = [batch[i].embedding_text() for i in fresh]
    texts += [chunk.embedding_text(batch[i].title) for i in fresh for chunk in chunked[i]]
    # Embed before touching any file: a model failure leaves everything as it was.
    embedded = backends.embedder.embed_documents(texts) if texts else np.zeros((0, backends.embedder.dim), np.float32)
    item_vectors, chunk_vectors = iter(embedded[: len(fresh)]), iter(embedded[len(fresh):])
    vectors, chunk_records = [], []
    for i in range(len(batch)):
        if i in kept:
            vectors.append(kept[i][0])
            chunk_records.append(kept[i][1])
        else:
            vectors.append(next(item_vectors))
            chunk_records.append([(c.heading, c.text, next(chunk_vectors)) for c in chunked[i]])
    return np.asarray(vectors, dtype=np.float32).reshape(len(batch), -1), chunk_records, len(texts)


def _kept(backends: Backends, batch: Sequence[Item], stored: Mapping[str, Mapping[str, Any]]) -> dict[int, tuple]:
    """batch index -> (vector, chunk records) stored for the items whose model-read text did not change."""
    same = {}
    for i, item in enumerate(batch):
        before = stored.get(item.id)
        if before is not None and _read_by_model(Item.from_record(before)) == _read_by_model(item):
            same[i] = item.id
    if not same:
        return {}
    store = backends.store
    rows = store.rows_by_id(list(same.values()))
    current = {row: vector for row, _, vector in store.current(list(rows.values()))}
    chunks = store.chunk_records(list(rows.values()))
    return {i: (current[rows[item_id]], chunks.get(rows[item_id], [])) for i, item_id in same.items()
            if item_id in rows and current.get(rows[item_id]) is not None}


def _read_by_model(item: Item) -> tuple[str, str, str]:
    return item.embedding_text(), item.title, item.description


def chunks_of(backends: Backends, item: Item, limit: int) -> list[Chunk]:
    """Heading-aware chunks of a description too long for one vector (none for short ones)."""
    if not limit or not item.description:
        return []
    model = backends.embedder
    if model.max_tokens:
        limit = min(limit, max(model.max_tokens - 32, 16))

    def count(text: str) -> int:
        return model.count_tokens([text])[0]

    if count(item.description) <= limit:
        return []
    return chunk_text(item.description, limit, count)
