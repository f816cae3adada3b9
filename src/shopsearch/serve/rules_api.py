"""Merchandising rules over HTTP (admin): GET, PUT (replace them all), DELETE one, and a preview that
answers one search under the rules in force and under a draft, for the page's compare view.

A write is checked whole (search/merchandising.py): a bad field or an unknown item is a 400 naming
the rule and field (`param` rules[i].field), and nothing is applied. Each change moves the index
version, so cached answers from before are not served.
"""

from __future__ import annotations

from typing import Any, Sequence

from fastapi import APIRouter

from ..search.engine import Engine
from ..search.rules import RuleSet
from .errors import ApiError
from .schemas import RulesBody, RulesPreviewBody, RulesPreviewResponse, RulesResponse


def rules_router(engine: Engine, admin: Sequence[Any]) -> APIRouter:
    router = APIRouter(tags=["merchandising"], dependencies=list(admin))

    def answer(rules: RuleSet) -> RulesResponse:
        written = [dict(rule.written) for rule in rules.rules]
        return RulesResponse(rules=written, count=len(written), version=engine.version)

    @router.get("/v1/rules", response_model=RulesResponse)
    def get_rules() -> RulesResponse:
        return answer(engine.rules)

    @router.put("/v1/rules", response_model=RulesResponse)
    def put_rules(body: RulesBody) -> RulesResponse:
        return answer(engine.set_rules(body.rules))

    @router.delete("/v1/rules/{rule_id}", response_model=RulesResponse)
    def delete_rule(rule_id: str) -> RulesResponse:
        if not engine.delete_rule(rule_id):
            raise ApiError(404, f"no rule {rule_id!r}", "rule_id", "rule_not_found")
        return answer(engine.rules)

    @router.post("/v1/rules/preview", response_model=RulesPreviewResponse)
    def preview(body: RulesPreviewBody) -> RulesPreviewResponse:
        before, after = engine.preview_rules(body.query, body.rules, mode=body.mode, k=body.k, filters=body.filters)
        return RulesPreviewResponse(before=before.to_dict(), after=after.to_dict())

    return router
