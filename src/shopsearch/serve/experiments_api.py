"""Online experiments over HTTP (admin): POST /v1/experiments starts one, GET reads its outcome,
DELETE stops it. behaviour/experiments.py has the methods and their statistics.

One experiment runs at a time: two would fight over the same searches' ranking parameters. While it
runs, a search with a `user_id` joins it (serve/search_api.py); the running one is held in memory
here so the search path never reads the database for it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Sequence

from fastapi import APIRouter

from ..behaviour.experiments import Experiment, InvalidExperiment
from ..behaviour.store import ExperimentExists
from ..errors import InvalidRequest
from ..search.engine import Engine
from .errors import ApiError
from .schemas import ExperimentList, ExperimentRequest, ExperimentResponse


class Experiments:
    """The experiments of an engine's search log, and the one running."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._running: Experiment | None = None
        self._loaded = False

    @property
    def running(self) -> Experiment | None:
        if not self._loaded:
            self._load()
        return self._running

    def _load(self) -> None:
        with self._lock:
            if not self._loaded:
                self._running = next((e for e in self.engine.events.experiments() if e.running), None)
                self._loaded = True

    def start(self, experiment: Experiment) -> None:
        current = self.running
        with self._lock:
            if current is not None:
                raise ApiError(409, f"experiment {current.name!r} is running; stop it first "
                                    f"(DELETE /v1/experiments/{current.name})", "name", "experiment_running")
            try:
                self.engine.events.add_experiment(experiment)
            except ExperimentExists as exc:
                raise ApiError(409, str(exc), "name", "experiment_exists") from None
            self._running = experiment

    def stop(self, name: str) -> Experiment | None:
        self._load()
        with self._lock:
            stopped = self.engine.events.stop_experiment(name, time.time())
            if self._running is not None and self._running.name == name:
                self._running = None
        return stopped

    def find(self, name: str) -> Experiment:
        found = next((e for e in self.engine.events.experiments() if e.name == name), None)
        if found is None:
            raise ApiError(404, f"no experiment named {name!r}", "name", "experiment_not_found")
        return found


def experiments_router(engine: Engine, experiments: Experiments, admin: Sequence[Any] = ()) -> APIRouter:
    router = APIRouter(tags=["experiments"], dependencies=list(admin))

    def answer(experiment: Experiment) -> ExperimentResponse:
        outcome = engine.events.experiment_outcome(experiment)
        return ExperimentResponse(name=experiment.name, method=experiment.method, sessions=outcome.sessions,
                                  wins=outcome.wins, ties=outcome.ties, p_value=outcome.p_value, winner=outcome.winner,
                                  running=experiment.running, started=experiment.started, stopped=experiment.stopped,
                                  variants={k: dict(v) for k, v in experiment.variants.items()},
                                  searches=outcome.searches)

    @router.post("/v1/experiments", response_model=ExperimentResponse)
    def start(body: ExperimentRequest) -> ExperimentResponse:
        variants = {name: params.model_dump(exclude_none=True) for name, params in body.variants.items()}
        try:
            experiment = Experiment(body.name, body.method, variants, time.time())
        except InvalidExperiment as exc:
            raise ApiError(400, str(exc), exc.param, "invalid_experiment") from None
        for name, params in variants.items():
            try:
                engine.plan("probe", **params)  # refuses what a search with these parameters would refuse
            except InvalidRequest as exc:
                raise ApiError(400, f"variant {name}: {exc}", f"variants.{name}.{exc.param}" if exc.param
                               else f"variants.{name}", "invalid_experiment") from None
        experiments.start(experiment)
        return answer(experiment)

    @router.get("/v1/experiments", response_model=ExperimentList)
    def list_experiments() -> ExperimentList:
        return ExperimentList(data=[answer(e) for e in engine.events.experiments()])

    @router.get("/v1/experiments/{name}", response_model=ExperimentResponse)
    def read(name: str) -> ExperimentResponse:
        return answer(experiments.find(name))

    @router.delete("/v1/experiments/{name}", response_model=ExperimentResponse)
    def stop(name: str) -> ExperimentResponse:
        experiments.find(name)
        stopped = experiments.stop(name)
        assert stopped is not None  # found above; names are never removed
        return answer(stopped)

    return router
