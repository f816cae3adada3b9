"""The HTTP service: OpenAI-compatible embeddings, Cohere/Jina-compatible rerank, search and catalogue writes.

One process is both the model server and the search service, over one
opened Engine (its data directory, its embedding model, its reranker).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import gc
import logging
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np
import orjson
from fastapi import APIRouter, FastAPI, Header
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from ..models import Embedder, InputTooLong, ModelUnavailable, create_embedder
from ..search.engine import Engine
from ..search.migration import SwapRequests
from ..ui import ui_router
from . import errors
from .auth import InvalidKeyEntry, Keys, Scope, parse_key_entries
from .batching import MicroBatcher, QueueFull
from .behaviour_api import behaviour_router
from .cache import cache_key, make_cache
from .catalog_api import catalog_router
from .errors import ApiError
from .eval_api import eval_router
from .experiments_api import Experiments, experiments_router
from .metrics import Metrics, ReadCounter
from .middleware import Admission, BodyLimit, Measure
from .ranker_api import ranker_router
from .rules_api import rules_router
from .schemas import (
    EmbeddingRequest,
    EmbeddingResponse,
    ModelCard,
    ModelList,
    RerankDocument,
    RerankRequest,
    RerankResponse,
    RerankResult,
    RerankUsage,
)
from .search_api import search_router
from .settings import ServeSettings
from .similar_api import similar_router
from .understand_api import understand_router

log = logging.getLogger(__name__)


class Service:
    """What the routes share: the engine, the batcher, the cache and the metrics.

    The engine is shared by every request thread: its searches run concurrently, and a write
    keeps them out only while it swaps in new index state. Searches embed their query through
    the batcher and the embedding cache, as /v1/embeddings does."""

    def __init__(self, engine: Engine, settings: ServeSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.metrics = Metrics()
        self.cache = make_cache(settings.cache, settings.cache_entries, settings.cache_ttl_s, on_error=self._cache_failed,
                                max_bytes=settings.cache_max_bytes)
        self.reranker = engine.reranker
        max_batch = settings.max_batch or self.embedder.serving_batch or 64
        self.batcher = MicroBatcher(self._embed_batch, max_batch, settings.max_wait_ms, settings.max_queue,
                                    on_batch=self.metrics.batch_size.observe, workers=self.embedder.parallel_calls)
        # The model's own limit binds first: the server's limit and policy describe what it does.
        self.max_tokens = min(settings.max_input_tokens, self.embedder.max_tokens or settings.max_input_tokens)
        self.experiments = Experiments(engine)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = False

    @property
    def embedder(self) -> Embedder:
        return self.engine.embedder  # read each time: a migration may swap in another model

    def _cache_failed(self, operation: str, exc: Exception) -> None:
        self.metrics.cache_errors.labels(operation).inc()

    # -- models ---------------------------------------------------------------
    def model_names(self) -> set[str]:
        names = {self.embedder.name, "default", self.engine.config.model.embedder}
        return {n for n in names if n}

    def _embed_batch(self, key: tuple, texts: list[str]) -> np.ndarray:
        input_type, dimensions = key
        method = self.embedder.embed_queries if input_type == "query" else self.embedder.embed_documents
        return method(texts, dimensions=dimensions)

    def embed_query(self, text: str, timeout_s: float | None = None) -> np.ndarray:
        """A search's query vector, from a request thread: from the cache, else from the batcher (at once on
        its thread when the model is idle, else queued on the event loop with whatever else is waiting),
        given up on with TimeoutError after timeout_s."""
        assert self.loop is not None, "the service is not started"
        key = ("query", None)
        cached = self.cache.kind != "none"  # no cache: no key to hash
        cache_key_ = embedding_key(self, text, key) if cached else ""
        blob = self.cache.get(cache_key_) if cached else None
        self.metrics.cache.labels("embedding", "miss" if blob is None else "hit").inc()
        if blob is not None:
            return np.frombuffer(blob, dtype=np.float32)
        vectors = self.batcher.run_now(key, [text], timeout_s)
        if vectors is None:
            queued = asyncio.run_coroutine_threadsafe(self.batcher.submit(key, [text]), self.loop)
            try:
                vectors = queued.result(timeout_s)
            except concurrent.futures.TimeoutError:
                queued.cancel()  # this search stops waiting; the batch it joined still runs
                raise
        vector = np.asarray(vectors[0], dtype=np.float32)
        if cached:
            self.cache.set(cache_key_, vector.tobytes())
        return vector

    def fit_tokens(self, texts: list[str], param: str = "input") -> tuple[list[str], int]:
        """Texts within the per-input token limit (cut or refused, per policy), and their token total."""
        limit = self.max_tokens
        counts = self.embedder.count_tokens(texts)
        out = []
        for i, (text, n) in enumerate(zip(texts, counts)):
            if n > limit:
                if self.settings.token_policy == "error":
                    self.metrics.rejected.labels("too_many_tokens").inc()
                    raise ApiError(400, f"{param}[{i}] has {n} tokens, over the limit of {limit}", f"{param}[{i}]",
                                   "context_length_exceeded")
                self.metrics.truncations.inc()
                text = self.embedder.truncate(text, limit)
            out.append(text)
        return out, sum(min(n, limit) for n in counts)


def create_app(engine: Engine, settings: ServeSettings | None = None,
               embedder_for: Callable[[str], Embedder] | None = None) -> FastAPI:
    """The server's app. embedder_for: how a migration's model string becomes a model (default: the factory's)."""
    settings = settings or ServeSettings.from_env()
    service = Service(engine, settings)
    service.metrics.registry.register(ReadCounter(
        "shopsearch_documents_embedded", "texts the catalogue's writes sent to the embedding model (items and chunks)",
        lambda: engine.documents_embedded))
    if not settings.api_keys:
        log.warning("no API keys configured: every route is open (set SHOPSEARCH_API_KEYS or --api-key-file)")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.loop = asyncio.get_running_loop()
        service.batcher.start()
        # Load lazily-initialised parts (jieba's dictionary, model sessions) before the first shopper does.
        await run_in_threadpool(engine.search, "warm up 预热", k=1, embed_query=service.embed_query)
        engine.refresh_popular(wait=False)  # the shop's popular searches, read on a thread of their own
        # Every batch worker once, with a batch of long texts: first runs in a thread size the
        # model's buffers, which the first burst of real traffic would otherwise wait for.
        long_text = "warm up the model with a long product description, 预热 " * 40
        try:
            await asyncio.gather(*(service.batcher.submit(("document", None), [long_text] * 8)
                                   for _ in range(service.batcher.workers)))
        except Exception as exc:  # a model that is down at start: search still answers by keyword
            log.warning("embedding warm-up failed: %s", exc)
        # The loaded models are millions of long-lived Python objects; a full collection walking
        # them stalled every request in flight for ~0.3 s (bench_serve.py p99). Frozen objects
        # are never scanned again; garbage made while serving is still collected.
        gc.collect()
        gc.freeze()
        # The writer takes the swap of a migration run beside it (`shopsearch migrate`; search/migration.py).
        swaps = None if engine.read_only else SwapRequests(
            engine, embedder_for or (lambda spec: create_embedder(engine.config.model, spec)))
        service.ready = True
        yield
        service.ready = False
        if swaps is not None:
            swaps.stop()
        await service.batcher.stop()
        service.cache.close()

    app = FastAPI(title="shopsearch", version="0.1.0", lifespan=lifespan,
                  description="Multilingual product search, OpenAI-compatible embeddings and Cohere/Jina-compatible rerank.")
    app.state.service = service
    errors.install(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"],
                           allow_headers=["*"])

    app.add_middleware(Measure, metrics=service.metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, metrics=service.metrics)
    app.add_middleware(Admission, limit=settings.max_in_flight, running=settings.max_running, metrics=service.metrics)  # outermost: refuses first

    try:
        entries = parse_key_entries(settings.api_keys)
    except InvalidKeyEntry as exc:
        raise ValueError(f"API keys: {exc}") from None
    keys = Keys(entries, on_limited=lambda name: service.metrics.rate_limited.labels(name).inc())
    admin = [keys.require(Scope.ADMIN)]
    public = APIRouter()
    api = APIRouter(dependencies=[keys.require(Scope.SEARCH, limit=True)])

    @public.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/v1/key", tags=["ops"])
    def this_key(authorization: str | None = Header(default=None, include_in_schema=False)) -> dict[str, Any]:
        """The calling key's name, scope and rate (the page hides what the key may not do)."""
        return keys.describe(authorization)

    @api.get("/ready", tags=["ops"], dependencies=admin)
    def ready():
        states = engine.model_states()
        # A model that is down leaves the server ready (searches answer by keyword, marked degraded);
        # `down` says which, for the operator and the load balancer's logs.
        body = {"ready": service.ready, "index": {"items": len(engine), "version": engine.version},
                "embedding_model": service.embedder.name,
                "rerank_model": service.reranker.name if service.reranker else None,
                "models": states, "down": sorted(name for name, state in states.items() if state == "open")}
        return JSONResponse(body, status_code=200 if service.ready else 503)

    @api.get("/metrics", tags=["ops"], response_class=Response, dependencies=admin)
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        service.metrics.queue_depth.set(service.batcher.depth)
        service.metrics.model_truncations.set(service.embedder.truncations.count)
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @api.get("/v1/models", response_model=ModelList, tags=["models"])
    def models() -> ModelList:
        cards = [ModelCard(id=service.embedder.name, kind="embedding")]
        if service.reranker is not None:
            cards.append(ModelCard(id=service.reranker.name, kind="rerank"))
        return ModelList(data=cards)

    @api.post("/v1/embeddings", response_model=EmbeddingResponse, tags=["models"])
    async def embeddings(body: EmbeddingRequest):
        if body.model not in service.model_names():
            raise ApiError(404, f"model {body.model!r} is not served here; this server embeds with {service.embedder.name!r}",
                           "model", "model_not_found")
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts:
            raise ApiError(400, "input must not be empty", "input", "empty_input")
        if not all(isinstance(t, str) for t in texts):
            raise ApiError(400, "token-id input is not supported: send the text itself", "input", "unsupported_input")
        if len(texts) > settings.max_inputs:
            service.metrics.rejected.labels("too_many_inputs").inc()
            raise ApiError(400, f"{len(texts)} inputs, over the limit of {settings.max_inputs} per request", "input",
                           "too_many_inputs")
        if body.dimensions is not None and not service.embedder.matryoshka:
            if body.dimensions != service.embedder.dim:
                raise ApiError(400, f"{service.embedder.name} has a fixed size of {service.embedder.dim}; "
                                    "dimensions needs a Matryoshka model", "dimensions", "unsupported_dimensions")
        texts, tokens = service.fit_tokens(texts)  # type: ignore[arg-type]  # token-id lists were refused above
        dims = body.dimensions if service.embedder.matryoshka else None
        vectors = await _cached_embeddings(service, texts, (body.input_type, dims))
        service.metrics.tokens.labels("/v1/embeddings").inc(tokens)
        # Built as plain JSON: validating thousands of floats against the response model again
        # cost more than the model call for short texts (the schema is still published).
        data = [{"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
                for i, v in enumerate(vectors)]
        payload = {"object": "list", "data": data, "model": service.embedder.name,
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")

    def rerank(body: RerankRequest) -> RerankResponse:
        if service.reranker is None:
            raise ApiError(404, "no reranker is configured on this server, so there is no rerank: start it with "
                                "--rerank-model", "model", "model_not_found")
        if body.model and body.model not in {service.reranker.name, engine.config.model.reranker, "default"}:
            raise ApiError(404, f"model {body.model!r} is not served here; this server reranks with "
                                f"{service.reranker.name!r}", "model", "model_not_found")
        if not body.documents:
            raise ApiError(400, "documents must not be empty", "documents", "empty_input")
        if len(body.documents) > settings.max_documents:
            service.metrics.rejected.labels("too_many_documents").inc()
            raise ApiError(400, f"{len(body.documents)} documents, over the limit of {settings.max_documents}",
                           "documents", "too_many_documents")
        if len(body.query) > settings.max_query_chars:
            raise ApiError(400, f"query over {settings.max_query_chars} characters", "query", "query_too_long")
        texts = [d if isinstance(d, str) else d.text for d in body.documents]
        texts, tokens = service.fit_tokens(texts, "documents")
        scores = engine.rerank_texts(body.query, texts, body.instruct)
        service.metrics.tokens.labels("/v1/rerank").inc(tokens)
        order = np.argsort(-scores, kind="stable")[: body.top_n or len(texts)]
        results = [RerankResult(index=int(i), relevance_score=float(scores[i]),
                                document=RerankDocument(text=texts[i]) if body.return_documents else None) for i in order]
        return RerankResponse(id=str(uuid.uuid4()), model=service.reranker.name,
                              usage=RerankUsage(total_tokens=tokens), results=results)

    api.post("/v1/rerank", response_model=RerankResponse, response_model_exclude_none=True, tags=["models"])(rerank)
    api.post("/rerank", response_model=RerankResponse, response_model_exclude_none=True, tags=["models"])(rerank)

    api.include_router(search_router(service, engine, settings))
    api.include_router(similar_router(engine))

    api.include_router(catalog_router(engine, settings.max_items, admin, settings.snapshot_dir))

    api.include_router(eval_router(engine, Path(settings.judgments_dir) if settings.judgments_dir else None),
                       dependencies=admin)
    api.include_router(understand_router(engine, settings.max_query_chars, admin))
    api.include_router(behaviour_router(engine, admin))
    api.include_router(ranker_router(engine, admin))
    api.include_router(experiments_router(engine, service.experiments, admin))
    api.include_router(rules_router(engine, admin))
    app.include_router(public)
    app.include_router(api)
    app.include_router(ui_router())  # the page is public; the API calls it makes carry the key
    return app


def embedding_key(service: Service, text: str, key: tuple) -> str:
    return cache_key("embedding", {"model": service.embedder.name, "key": list(key), "text": text})


async def _cached_embeddings(service: Service, texts: list[str], key: tuple) -> np.ndarray:
    keys = [embedding_key(service, t, key) for t in texts]
    found = [service.cache.get(k) for k in keys]
    missing = [i for i, blob in enumerate(found) if blob is None]
    service.metrics.cache.labels("embedding", "hit").inc(len(texts) - len(missing))
    service.metrics.cache.labels("embedding", "miss").inc(len(missing))
    rows = [None if blob is None else np.frombuffer(blob, dtype=np.float32) for blob in found]
    if missing:
        try:
            vectors = await service.batcher.submit(key, [texts[i] for i in missing])
        except QueueFull as exc:
            service.metrics.rejected.labels("queue_full").inc()
            raise ApiError(429, f"the model is busy: {exc}; retry shortly", None, "queue_full", {"Retry-After": "1"}) from None
        except (InputTooLong, ModelUnavailable):
            raise  # answered as what they are (400s, 503) by the error handlers
        except Exception as exc:  # the model itself failed (a dropped connection, a crashed runtime)
            raise ApiError(503, f"the embedding model failed: {type(exc).__name__}: {exc}", None, "model_unavailable",
                           {"Retry-After": "5"}) from None
        for i, vector in zip(missing, vectors):
            row = rows[i] = np.asarray(vector, dtype=np.float32)
            service.cache.set(keys[i], row.tobytes())
    return np.stack(rows)  # type: ignore[arg-type]  # every row is filled by now


def _encode(vector: np.ndarray, encoding: str):
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return np.ascontiguousarray(vector, dtype=np.float32)  # orjson writes each float32 in its shortest exact form
