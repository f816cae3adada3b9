"""POST /v1/search: the engine's search, cached, with every answer logged for the behaviour loop.

Each answer carries a fresh `query_id` (a cached one too: a shopper's events refer to the
search they saw, not to whoever first asked the same thing). The search log records the
query, the optional opaque `user_id` and the ids shown with their positions; events posted
later (POST /v1/events) refer to it by `query_id`.

While an experiment runs (serve/experiments_api.py), a search with a `user_id` joins it: in an
A/B test its variant's parameters replace the request's; in an interleaving one both variants
search and the page shown is their team-draft merge, each position's team logged with it. The
answer then says `experiment` and `variant` ("interleaved" for a merged page).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from ..behaviour.experiments import INTERLEAVED, Experiment, assign, draft_seed, team_draft
from ..search.engine import Engine
from ..text.analyzer import fold
from .cache import cache_key
from .errors import ApiError
from .schemas import SearchHit, SearchRequest, SearchResponseBody
from .settings import ServeSettings

if TYPE_CHECKING:
    from .app import Service


class Answer(NamedTuple):
    payload: bytes  # the answer's JSON, without the per-request fields (query_id, cached, experiment, variant)
    shown: list[str]  # the ids on the page, in order
    cached: bool
    rules: tuple[str, ...] = ()  # the merchandising rules it fired


def search_router(service: Service, engine: Engine, settings: ServeSettings) -> APIRouter:
    router = APIRouter()

    def run(request: dict[str, Any], explain: bool) -> Answer:
        key = cache_key("search", {"request": request, "version": engine.version, "explain": explain})
        cached = service.cache.get(key)
        service.metrics.cache.labels("search", "hit" if cached else "miss").inc()
        if cached is not None:
            body = orjson.loads(cached)
            return Answer(cached, [hit["id"] for hit in body["results"]], True, tuple(body["rules_fired"]))
        # No lock here: the engine runs searches side by side, and a slow reranker holds only this request.
        params = dict(request)
        response = engine.search(params.pop("query"), explain=explain, embed_query=service.embed_query, **params)
        answer = response.to_dict()
        if response.degraded:
            service.metrics.degraded.inc()
        results = [SearchHit(id=h["id"], score=h["score"], item=h["item"], explanation=h["explanation"] if explain else None)
                   for h in answer["results"]]
        out = SearchResponseBody(query=answer["query"], mode=answer["mode"], results=results, took_ms=answer["took_ms"],
                                 timings=answer["timings"], degraded=answer["degraded"],
                                 degraded_reason=answer["degraded_reason"], facets=answer.get("facets"),
                                 understood=answer.get("understood"), rules_fired=answer["rules_fired"])
        payload = out.model_dump_json(exclude=PER_REQUEST).encode()
        if not response.degraded:  # a degraded answer must not outlive the outage
            service.cache.set(key, payload)
        return Answer(payload, [h.id for h in results], False, tuple(out.rules_fired))

    def interleaved(experiment: Experiment, request: dict[str, Any], explain: bool, user_id: str) -> tuple[Answer, str]:
        depth, offset = request["k"] + request["offset"], request["offset"]
        legs = [run({**request, **experiment.variants[name], "k": depth, "offset": 0}, explain)
                for name in experiment.names]
        bodies = [orjson.loads(leg.payload) for leg in legs]
        rng = np.random.default_rng(draft_seed(experiment, user_id, request["query"]))
        merged, teams = team_draft(legs[0].shown, legs[1].shown, depth, rng)
        hits = {hit["id"]: hit for body in reversed(bodies) for hit in body["results"]}
        body = bodies[0]
        body["results"] = [hits[i] for i in merged[offset:]]
        body["took_ms"] = sum(b["took_ms"] for b in bodies)
        body["timings"] = {f"{name}.{stage}": ms for name, b in zip(experiment.names, bodies) for stage, ms in b["timings"].items()}
        body["degraded"] = any(b["degraded"] for b in bodies)
        body["degraded_reason"] = "; ".join(b["degraded_reason"] for b in bodies if b["degraded_reason"]) or None
        page_teams = "".join(str(t) for t in teams[offset:])
        body["rules_fired"] = list(dict.fromkeys(rule for leg in legs for rule in leg.rules))
        return Answer(orjson.dumps(body), merged[offset:], all(leg.cached for leg in legs), tuple(body["rules_fired"])), page_teams

    @router.post("/v1/search", response_model=SearchResponseBody, tags=["search"])
    def search(body: SearchRequest):
        if len(body.query) > settings.max_query_chars:
            raise ApiError(400, f"query over {settings.max_query_chars} characters", "query", "query_too_long")
        request = body.model_dump()
        explain, user_id = request.pop("explain"), request.pop("user_id")
        experiment = service.experiments.running if user_id is not None else None
        if experiment is None:
            return _answer(service, engine, body.query, user_id, run(request, explain))
        if experiment.method == "ab":
            variant = assign(experiment, user_id)
            answer = run({**request, **experiment.variants[variant]}, explain)
            return _answer(service, engine, body.query, user_id, answer, experiment, variant)
        answer, teams = interleaved(experiment, request, explain, user_id)
        return _answer(service, engine, body.query, user_id, answer, experiment, INTERLEAVED, teams)

    return router


PER_REQUEST = {"cached", "query_id", "experiment", "variant"}


def _answer(service: Service, engine: Engine, query: str, user_id: str | None, answer: Answer,
            experiment: Experiment | None = None, variant: str | None = None, teams: str | None = None) -> Response:
    query_id = uuid.uuid4().hex
    if service.settings.log_searches:
        from ..behaviour import SearchRecord

        logged = experiment.log_variant(variant) if experiment is not None and variant is not None else None
        engine.events.log_search(SearchRecord(query_id, fold(query), user_id, logged, tuple(answer.shown),
                                              len(answer.shown), time.time(), teams, answer.rules))
    head = b'{"query_id":"' + query_id.encode() + b'","cached":' + (b"true" if answer.cached else b"false") + b","
    if experiment is not None:
        head += b'"experiment":' + orjson.dumps(experiment.name) + b',"variant":' + orjson.dumps(variant) + b","
    return Response(head + answer.payload[1:], media_type="application/json")
