"""Relevance evaluation over HTTP: the `shopsearch eval` report for a judgments file, for the web page.

Judgments come from the server's judgments folder (`--judgments-dir`, listed
by GET /v1/eval/judgments; names only, never paths) or are uploaded as text.
Every configuration is compared with the keyword baseline, as the CLI does.
"""

from __future__ import annotations

import base64
from pathlib import Path

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from ..eval.evaluator import describe, evaluate, wins_and_losses
from ..eval.judgments import InvalidJudgments, Judgments, parse_judgments
from ..search.engine import Engine
from .errors import ApiError
from .schemas import EvalRequest, EvalResponse, EvalRun, JudgmentsFile, JudgmentsList

JUDGMENT_SUFFIXES = (".csv", ".qrels", ".tsv", ".txt")
MAX_EVAL_QUERIES = 2000  # one evaluation runs every query once per configuration


def judgment_files(folder: Path | None) -> list[JudgmentsFile]:
    """CSV files and TREC qrels in the folder; a qrels file pairs with a same-named `.queries.tsv`."""
    if folder is None or not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix not in JUDGMENT_SUFFIXES or path.name.endswith(".queries.tsv"):
            continue
        queries = path.with_name(path.stem + ".queries.tsv")
        files.append(JudgmentsFile(name=path.name, queries_file=queries.name if queries.is_file() else None))
    return files


def eval_router(engine: Engine, folder: Path | None) -> APIRouter:
    router = APIRouter(tags=["evaluation"])

    @router.get("/v1/eval/judgments", response_model=JudgmentsList)
    def list_judgments() -> JudgmentsList:
        return JudgmentsList(data=judgment_files(folder))

    @router.post("/v1/eval", response_model=EvalResponse)
    async def run_eval(body: EvalRequest) -> EvalResponse:
        source, judged = _judgments(body, folder)
        if len(judged) > MAX_EVAL_QUERIES:
            raise ApiError(400, f"{len(judged)} queries, over the limit of {MAX_EVAL_QUERIES} per evaluation",
                           "judgments", "too_many_queries")
        return await run_in_threadpool(_evaluate, engine, source, judged, body)

    return router


def _judgments(body: EvalRequest, folder: Path | None) -> tuple[str, Judgments]:
    if (body.file is None) == (body.judgments is None):
        raise ApiError(400, "give either file (a name from GET /v1/eval/judgments) or judgments (the file's text)",
                       "file", "invalid_request")
    try:
        if body.judgments is not None:
            return "upload", parse_judgments(body.judgments, "upload", body.queries, "queries")
        known = {f.name: f for f in judgment_files(folder)}
        if body.file not in known:
            raise ApiError(404, f"no judgments file {body.file!r} here; GET /v1/eval/judgments lists them",
                           "file", "not_found")
        assert folder is not None  # judgment_files(None) lists nothing, so a known file has a folder
        path = folder / body.file
        queries = known[body.file].queries_file
        return body.file, parse_judgments(path.read_text(encoding="utf-8"), body.file,
                                          (folder / queries).read_text(encoding="utf-8") if queries else None,
                                          queries or "queries")
    except InvalidJudgments as exc:
        raise ApiError(400, str(exc), "judgments", "invalid_judgments") from None


def _evaluate(engine: Engine, source: str, judged: Judgments, body: EvalRequest) -> EvalResponse:
    baseline_params = {"mode": "keyword"}
    configs = [{"mode": m, **({"vector_weight": body.vector_weight}
                              if body.vector_weight is not None and m == "hybrid" else {})} for m in body.modes]
    todo = [baseline_params] + [c for c in configs if c != baseline_params]
    runs = [evaluate(engine, judged, params, describe(params)) for params in todo]
    baseline = runs[0]
    base_ndcg = baseline.means()["ndcg@10"]
    out = []
    for run in runs:
        wins, losses = wins_and_losses(run, baseline)
        change = (run.means()["ndcg@10"] / base_ndcg - 1) * 100 if base_ndcg else 0.0
        out.append(EvalRun(name=run.name, params=run.params, summary=run.summary(), ndcg_change_pct=round(change, 2),
                           wins=wins[:15], losses=losses[:15]))
    plot, problem = None, None
    try:
        from ..eval.report import metrics_plot

        plot = base64.b64encode(metrics_plot(runs)).decode()
    except ImportError:
        problem = "plots need matplotlib: pip install 'shopsearch[eval]'"
    return EvalResponse(source=source, queries=len(judged), baseline=baseline.name, runs=out, plot_png=plot,
                        plot_problem=problem)
