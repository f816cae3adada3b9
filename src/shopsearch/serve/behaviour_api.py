"""The behaviour loop over HTTP: shoppers' events in (POST /v1/events), what they did out
(GET /v1/analytics, and the same rates over time, GET /v1/analytics/series).

An event refers to a search by the `query_id` its answer carried. A bad event (an unknown type,
an unknown query_id, a missing field) is reported by its index and the rest are kept; events
acknowledged are durable (the store commits them before the answer).
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from ..behaviour.figures import MIN_INTERVAL, TARGET_BUCKETS, TooManyBuckets
from ..search.engine import Engine
from .errors import ApiError
from .schemas import AnalyticsResponse, EventError, EventsRequest, EventsResponse, SeriesResponse

MAX_EVENTS = 1000


def _check_window(since: float | None, until: float | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and not math.isfinite(value):
            raise ApiError(400, f"{name} must be a finite number of unix seconds", name, "invalid_window")
    if since is not None and until is not None and since > until:
        raise ApiError(400, f"since ({since:g}) is after until ({until:g})", "since", "invalid_window")


def behaviour_router(engine: Engine, admin: Sequence[Any] = ()) -> APIRouter:
    """admin: the dependencies analytics needs (serve/auth.py); events are what a front end sends."""
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

    @router.get("/v1/analytics", response_model=AnalyticsResponse, dependencies=admin)
    async def analytics(since: float | None = Query(default=None, description="unix seconds, inclusive"),
                        until: float | None = Query(default=None, description="unix seconds, exclusive"),
                        top: int = Query(default=20, ge=1, le=1000)) -> AnalyticsResponse:
        _check_window(since, until)
        figures = await run_in_threadpool(engine.events.analytics, since, until, top)
        return AnalyticsResponse(**figures)

    @router.get("/v1/analytics/series", response_model=SeriesResponse, dependencies=admin)
    async def series(since: float | None = Query(default=None, description="unix seconds, inclusive; default: the log's start"),
                     until: float | None = Query(default=None, description="unix seconds, exclusive; default: its end"),
                     interval: float | None = Query(
                         default=None, description=f"seconds per bucket, >= {MIN_INTERVAL:g}; default: whole minutes, "
                                                   f"hours or days giving at most {TARGET_BUCKETS} buckets")) -> SeriesResponse:
        _check_window(since, until)
        if interval is not None and not (math.isfinite(interval) and interval >= MIN_INTERVAL):
            raise ApiError(400, f"interval must be a finite number of seconds >= {MIN_INTERVAL:g}", "interval",
                           "invalid_interval")
        try:
            figures = await run_in_threadpool(engine.events.series, since, until, interval)
        except TooManyBuckets as exc:
            raise ApiError(400, str(exc), "interval", "too_many_buckets") from None
        return SeriesResponse(**figures)

    return router
