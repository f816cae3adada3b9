"""Training the learned ranker over HTTP (admin): POST /v1/ranker/train {"from": "events"}.

The judgments are the search log's clicks (a position-based click model); the ranker is trained,
cross-validated by query, and installed only if on held-out queries it beats the current ranking
(eval/train_ranker.py says what that is and why). The request answers when training is done, with
the figures of both. One training at a time: a second request meanwhile is a 409, since two would
race to install and each would compare itself with a ranking about to change.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Literal, Sequence

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidRequest
from ..eval import train_ranker
from ..models import ModelUnavailable
from ..search.engine import Engine
from .errors import ApiError


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["events"] = Field(alias="from", description="where the judgments come from: the search log's clicks")
    folds: int = Field(default=5, ge=2, le=20, description="cross-validation folds, split by query")
    since: float | None = Field(default=None, description="unix seconds, inclusive: the search log's window")
    until: float | None = Field(default=None, description="unix seconds, exclusive")


class TrainResponse(BaseModel):
    since: float | None  # the window asked for
    until: float | None
    sessions: int  # searches with results in the window
    judged_queries: int  # queries the click model judged
    queries: int  # trained on and scored, cross-validated
    queries_left_out: int  # judged queries over the limit, the least shown
    pairs: int  # judged (query, item) pairs of those queries
    folds: int
    current: Literal["fusion", "installed ranker"]  # what hybrid search ranked by before this training
    # Each: queries, uninformative_queries, gain, then ndcg@10, mrr@10, recall@100, map@100, judged@10, as
    # POST /v1/eval's summaries, over the same queries (the new ranker's scored by folds that left them out).
    ranker: dict[str, float | int | str]
    current_figures: dict[str, float | int | str]  # the current ranking
    fusion: dict[str, float | int | str]
    beats_current: bool  # the install rule: the new ranker's held-out nDCG@10 is higher
    installed: bool  # and so it was installed: hybrid search uses it from this answer on
    reason: str
    version: int  # the engine's version after (a new one when installed: cached answers are not reused)
    took_ms: float


def ranker_router(engine: Engine, admin: Sequence[Any] = ()) -> APIRouter:
    """admin: the dependencies training needs (serve/auth.py): it changes what every shopper sees."""
    router = APIRouter(tags=["ranker"], dependencies=list(admin))
    training = threading.Lock()

    @router.post("/v1/ranker/train", response_model=TrainResponse)
    async def train(body: TrainRequest) -> TrainResponse:
        for name, value in (("since", body.since), ("until", body.until)):
            if value is not None and not math.isfinite(value):
                raise ApiError(400, f"{name} must be a finite number of unix seconds", name, "invalid_window")
        if body.since is not None and body.until is not None and body.since > body.until:
            raise ApiError(400, f"since ({body.since:g}) is after until ({body.until:g})", "since", "invalid_window")
        # Taken on the event loop, so a second request is refused at once; released only when the worker is done,
        # as the await returns then even if the client left (run_in_threadpool does not abandon its thread).
        if not training.acquire(blocking=False):
            raise ApiError(409, "a ranker training is already running; retry when it has answered", None,
                           "training_in_progress")
        try:
            return await run_in_threadpool(_train, engine, body)
        finally:
            training.release()

    return router


def _train(engine: Engine, body: TrainRequest) -> TrainResponse:
    started = time.perf_counter()
    try:
        report = train_ranker.train_from_events(engine, body.folds, body.since, body.until)
    except ModelUnavailable as exc:  # an optional extra missing is no outage: no Retry-After
        raise ApiError(501, f"{exc}, then restart the server", None, "ltr_not_installed") from None
    except train_ranker.NoJudgments as exc:
        raise ApiError(400, str(exc), "from", "no_judgments") from None
    except InvalidRequest as exc:
        raise ApiError(400, str(exc), exc.param, "invalid_value") from None
    return TrainResponse(since=body.since, until=body.until, version=engine.version,
                         took_ms=round((time.perf_counter() - started) * 1000, 1), **report.to_dict())
