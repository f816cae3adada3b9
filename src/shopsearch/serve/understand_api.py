"""What query understanding reads, over HTTP: the shop's synonyms (admin) and search-as-you-type
suggestions from the catalogue and the shop's popular searches (kind "query").

PUT /v1/synonyms takes a whole synonyms file (or its entries as a list) and replaces the set at
once: a malformed entry is refused with its line number and nothing is applied. A change makes
cached search answers unreachable (the index version moves).
"""

from __future__ import annotations

from typing import Any, Sequence

from fastapi import APIRouter, Query

from ..search.engine import Engine
from ..text.synonyms import InvalidSynonyms, SynonymSet, parse_synonyms
from .errors import ApiError
from .schemas import SuggestionItem, SuggestResponse, SynonymsBody, SynonymsResponse

MAX_SUGGESTIONS = 100


def understand_router(engine: Engine, max_query_chars: int, admin: Sequence[Any] = ()) -> APIRouter:
    """admin: the dependencies the synonyms routes need (serve/auth.py); suggestions are a front end's."""
    router = APIRouter()

    def answer(synonyms: SynonymSet) -> SynonymsResponse:
        lines = [rule.to_line() for rule in synonyms.rules]
        return SynonymsResponse(synonyms=lines, count=len(lines), version=engine.version)

    @router.get("/v1/synonyms", response_model=SynonymsResponse, tags=["understanding"], dependencies=admin)
    def get_synonyms() -> SynonymsResponse:
        return answer(engine.synonyms)

    @router.put("/v1/synonyms", response_model=SynonymsResponse, tags=["understanding"], dependencies=admin)
    def put_synonyms(body: SynonymsBody) -> SynonymsResponse:
        text = body.synonyms if isinstance(body.synonyms, str) else "\n".join(body.synonyms)
        try:
            rules = parse_synonyms(text)
        except InvalidSynonyms as exc:
            raise ApiError(400, f"synonyms {exc}; nothing was applied", "synonyms", "invalid_synonyms") from None
        return answer(engine.set_synonyms(rules))

    @router.delete("/v1/synonyms", response_model=SynonymsResponse, tags=["understanding"], dependencies=admin)
    def delete_synonyms() -> SynonymsResponse:
        return answer(engine.set_synonyms(()))

    @router.get("/v1/suggest", response_model=SuggestResponse, tags=["search"])
    def suggest(q: str = Query(description="what the shopper has typed so far"),
                k: int = Query(default=8, ge=1, le=MAX_SUGGESTIONS)) -> SuggestResponse:
        if len(q) > max_query_chars:
            raise ApiError(400, f"q over {max_query_chars} characters", "q", "query_too_long")
        found = engine.suggest(q, k)
        return SuggestResponse(query=q, data=[SuggestionItem(text=s.text, kind=s.kind, score=s.score) for s in found])

    return router
