"""GET /v1/items/{id}/similar: "you may also like", the nearest items by the item's own vector (search/similar.py).

A front end's route (a search key may call it). `filters` is repeated, each in the CLI syntax
(`price<=50`, `brand=HP,Lenovo`) or a JSON object as a search's `filters`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..search.engine import Engine
from .errors import ApiError
from .schemas import SearchHit, SimilarResponse

MAX_SIMILAR = 100


def similar_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["search"])

    @router.get("/v1/items/{item_id}/similar", response_model=SimilarResponse)
    def similar(item_id: str, k: int = Query(default=10, ge=1, le=MAX_SIMILAR),
                filters: Annotated[list[str] | None, Query(description="price<=50, brand=HP,Lenovo, or a JSON object")] = None,
                same_category: bool = Query(default=False, description="the item's category first")) -> SimilarResponse:
        found = engine.similar(item_id, k, _filters(filters), same_category)
        if found is None:
            raise ApiError(404, f"no item with id {item_id!r}", "item_id", "item_not_found")
        hits = [SearchHit(id=h.id, score=h.score, item=h.item) for h in found.hits]
        return SimilarResponse(item_id=item_id, results=hits, took_ms=round(found.took_ms, 3))

    return router


def _filters(given: list[str] | None) -> Any:
    if not given:
        return None
    parsed: list[Any] = []
    for text in given:
        if text.lstrip().startswith("{"):
            try:
                parsed.append(json.loads(text))
            except json.JSONDecodeError as exc:
                raise ApiError(400, f"filters: {text!r} is not valid JSON ({exc.msg})", "filters", "invalid_value") from None
        else:
            parsed.append(text)
    return parsed
