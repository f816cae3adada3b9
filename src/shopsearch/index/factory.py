"""The indexes a data directory's config chooses (one module per backend, imported only when chosen), and the
check that its embedding model is the one the directory was built with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..config import EngineConfig, ModelConfig
from ..errors import DataDirError
from ..models import Embedder
from ..models.factory import builtin_for_model
from ..text import Analyzer
from .keyword import KeywordIndex, ServerFusion, analyzed_fields
from .migration import MODEL_SPEC
from .store import CatalogueStore
from .vector import VectorIndex


def vector_index(path: Path, dim: int, config: EngineConfig, chunks: bool = False,
                 analyzer: Analyzer | None = None) -> VectorIndex:
    """The items' vector index, or with chunks=True the chunk vectors' (a second collection on Milvus,
    filtered by the chunk masks, so it carries no filter fields). On Milvus with the keyword leg
    there too, the items' collection also holds their text for the server's BM25."""
    if config.vector.backend == "hnsw":
        from .vector_hnsw import HnswVectorIndex

        return HnswVectorIndex(path, dim, config.vector)
    if config.vector.backend == "faiss":
        from .vector_faiss import FaissVectorIndex

        return FaissVectorIndex(path, dim, config.vector)
    from .milvus import BM25Unsupported, bm25_document
    from .vector_milvus import MilvusVectorIndex

    collection = config.vector.collection + ("_chunks" if chunks else "")
    text_of = None
    if not chunks and analyzer is not None:
        def text_of(record: Mapping[str, Any], analyzer: Analyzer = analyzer) -> str:
            return bm25_document(analyzed_fields(analyzer, record))
    try:
        return MilvusVectorIndex(path, dim, config.vector, collection, filter_fields=not chunks, text_of=text_of,
                                 bm25=text_of is not None and config.keyword.backend == "milvus")
    except BM25Unsupported as exc:
        raise DataDirError(str(exc)) from None


def keyword_index(data_dir: Path, config: EngineConfig, writable: bool,
                  vector: VectorIndex) -> tuple[KeywordIndex, ServerFusion | None]:
    """The keyword index, and the same index as a server that fuses both legs when it is one."""
    if config.keyword.backend == "milvus":
        from .keyword_milvus import MilvusKeywordIndex, SharedMilvusKeywordIndex
        from .milvus import BM25Unsupported
        from .vector_milvus import MilvusVectorIndex

        if not isinstance(vector, MilvusVectorIndex):
            raise DataDirError("keyword backend milvus needs the vector leg on Milvus too (SHOPSEARCH_VECTOR__BACKEND=milvus)")
        if vector.has_text:
            shared = SharedMilvusKeywordIndex(vector)
            return shared, shared
        # A vector collection created before it held the text: BM25 in a collection of its own.
        try:
            return MilvusKeywordIndex(data_dir / "keyword-milvus", config.vector.uri, config.vector.collection + "_text"), None
        except BM25Unsupported as exc:
            raise DataDirError(str(exc)) from None
    from .keyword_tantivy import IncompatibleIndex, TantivyKeywordIndex

    boosts = {"all": config.keyword.all_boost, "title": config.keyword.title_boost, "brand": config.keyword.brand_boost,
              "category": config.keyword.category_boost, "description": config.keyword.description_boost}
    try:
        return TantivyKeywordIndex(data_dir / "keyword", boosts, writable=writable), None
    except IncompatibleIndex as exc:
        raise DataDirError(str(exc)) from None


def recorded_model_spec(store: CatalogueStore, config: ModelConfig) -> str | None:
    """Under the "default" model, a directory keeps the model it holds vectors of: the one a migration
    swapped in (its model string is recorded), or another built-in model (the default changed from USE
    to e5-small; older directories stay searchable)."""
    recorded = store.get_meta("model")
    if config.embedder != "default" or recorded is None:
        return None
    return store.get_meta(MODEL_SPEC) or builtin_for_model(json.loads(recorded)["name"])


def check_model(store: CatalogueStore, embedder: Embedder, writable: bool) -> None:
    recorded = store.get_meta("model")
    current = {"name": embedder.name, "dim": embedder.dim}
    if recorded is None:
        if writable:
            store.set_meta("model", json.dumps(current))
        return
    previous = json.loads(recorded)
    if previous != current:
        raise DataDirError(
            f"this data directory was built with model {previous['name']} ({previous['dim']}-d); "
            f"the configured model is {current['name']} ({current['dim']}-d). Re-index into a new directory."
        )
