"""The behaviour loop over HTTP: shoppers' events in (POST /v1/events), what they did out
(GET /v1/analytics).

An event refers to a search by the `query_id` its answer carried. A bad event (an unknown type,
an unknown query_id, a missing field) is reported by its index and the rest are kept; events
acknowledged are durable (the store commits them before the answer).
"""

from __future__ import annotations

import math
import time

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from ..search.engine import Engine
from .errors import ApiError
from .schemas import AnalyticsResponse, EventError, EventsRequest, EventsResponse

MAX_EVENTS = 1000


def behaviour_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["behaviour"])

    @router.post("/v1/events", response_model=EventsResponse)
    def add_events(body: EventsRequest) -> EventsResponse:
        from ..behaviour import InvalidEvent, parse_event

        if len(body.events) > MAX_EVENTS:
            raise ApiError(400, f"{len(body.events)} events, over the limit of {MAX_EVENTS} per request", "events",
                           "too_many_events")
        now = time.time()
        valid, where, errors = [], [], []
        for index, raw in enumerate(body.events):
            try:
                valid.append(parse_event(raw, now))
                where.append(index)
            except InvalidEvent as exc:
                errors.append(EventError(index=index, message=str(exc)))
        unknown = engine.events.add_events(valid) if valid else []
        errors += [EventError(index=where[i], message=f"unknown query_id {valid[i].query_id!r}: no search answered it")
                   for i in unknown]
        return EventsResponse(accepted=len(valid) - len(unknown), errors=sorted(errors, key=lambda e: e.index))

    @router.get("/v1/analytics", response_model=AnalyticsResponse)
    async def analytics(since: float | None = Query(default=None, description="unix seconds, inclusive"),
                        until: float | None = Query(default=None, description="unix seconds, exclusive"),
                        top: int = Query(default=20, ge=1, le=1000)) -> AnalyticsResponse:
        for name, value in (("since", since), ("until", until)):
            if value is not None and not math.isfinite(value):
                raise ApiError(400, f"{name} must be a finite number of unix seconds", name, "invalid_window")
        if since is not None and until is not None and since > until:
            raise ApiError(400, f"since ({since:g}) is after until ({until:g})", "since", "invalid_window")
        figures = await run_in_threadpool(engine.events.analytics, since, until, top)
        return AnalyticsResponse(**figures)

    return router
