"""POST /v1/search: the engine's search, cached, with every answer logged for the behaviour loop.

Each answer carries a fresh `query_id` (a cached one too: a shopper's events refer to the
search they saw, not to whoever first asked the same thing). The search log records the
query, the optional opaque `user_id` and the ids shown with their positions; events posted
later (POST /v1/events) refer to it by `query_id`.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from ..search.engine import Engine
from ..text.analyzer import fold
from .cache import cache_key
from .errors import ApiError
from .schemas import SearchHit, SearchRequest, SearchResponseBody
from .settings import ServeSettings

if TYPE_CHECKING:
    from .app import Service


def search_router(service: Service, engine: Engine, settings: ServeSettings) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/search", response_model=SearchResponseBody, tags=["search"])
    def search(body: SearchRequest):
        if len(body.query) > settings.max_query_chars:
            raise ApiError(400, f"query over {settings.max_query_chars} characters", "query", "query_too_long")
        request = body.model_dump()
        explain, user_id = request.pop("explain"), request.pop("user_id")
        key = cache_key("search", {"request": request, "version": engine.version, "explain": explain})
        cached = service.cache.get(key)
        service.metrics.cache.labels("search", "hit" if cached else "miss").inc()
        if cached is not None:
            shown = [hit["id"] for hit in orjson.loads(cached)["results"]]
            return _answer(service, engine, body.query, user_id, shown, cached, True)
        # No lock here: the engine runs searches side by side, and a slow reranker holds only this request.
        response = engine.search(request.pop("query"), explain=explain, embed_query=service.embed_query, **request)
        answer = response.to_dict()
        if response.degraded:
            service.metrics.degraded.inc()
        results = [SearchHit(id=h["id"], score=h["score"], item=h["item"], explanation=h["explanation"] if explain else None)
                   for h in answer["results"]]
        out = SearchResponseBody(query=answer["query"], mode=answer["mode"], results=results, took_ms=answer["took_ms"],
                                 timings=answer["timings"], degraded=answer["degraded"],
                                 degraded_reason=answer["degraded_reason"], facets=answer.get("facets"),
                                 understood=answer.get("understood"))
        payload = out.model_dump_json(exclude={"cached", "query_id"}).encode()
        if not response.degraded:  # a degraded answer must not outlive the outage
            service.cache.set(key, payload)
        return _answer(service, engine, body.query, user_id, [h.id for h in results], payload, False)

    return router


def _answer(service: Service, engine: Engine, query: str, user_id: str | None, shown: list[str], payload: bytes,
            cached: bool) -> Response:
    query_id = uuid.uuid4().hex
    if service.settings.log_searches:
        from ..behaviour import SearchRecord

        engine.events.log_search(SearchRecord(query_id, fold(query), user_id, None, tuple(shown), len(shown), time.time()))
    return Response(_with_fields(payload, cached, query_id), media_type="application/json")


def _with_fields(body: bytes, cached: bool, query_id: str) -> bytes:
    """A search answer (serialised without its `cached` and `query_id` fields) with both as its first fields."""
    return b'{"query_id":"' + query_id.encode() + b'","cached":' + (b"true" if cached else b"false") + b"," + body[1:]
