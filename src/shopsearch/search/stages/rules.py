"""Merchandising rules (search/rules.py), in two places of the pipeline.

FireRules, right after understanding: which rules the query meets (their conditions may name a
brand or category understanding read), and their filters joined to the search's, so both legs
search inside them. ApplyRules, after every ranking stage and the sort: boosts and buries
(relevance order only), then hides, then pins at their positions (a pinned item passes the
search's filters or is not shown). Each hit a rule moved names it in its explanation.
"""

from __future__ import annotations

import time

import numpy as np

from ...text.analyzer import fold
from ..candidates import Candidates, rows_in
from ..context import SearchContext
from ..rules import Query, RuleSet


def _rules(candidates: Candidates, context: SearchContext) -> RuleSet:
    plan = candidates.plan
    return plan.draft_rules if plan.draft_rules is not None else context.rules


class FireRules:
    name = "match_rules"

    def applies(self, candidates: Candidates) -> bool:
        return candidates.plan.rules

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        rules = _rules(candidates, context)
        if not rules.rules:
            return candidates
        understood = candidates.understood
        entities = frozenset((e["field"], fold(e["value"])) for e in understood.entities) if understood else frozenset()
        terms = frozenset(term for group in candidates.groups for term in group)
        candidates.fired = rules.fired(Query(candidates.plan.query, terms, entities), context.analyzer.groups, time.time())
        extra = tuple(c for rule in candidates.fired for a in rule.actions if a.kind == "filter" for c in a.conditions)
        if extra:
            candidates.conditions = (*candidates.conditions, *extra)
        return candidates


class ApplyRules:
    name = "rules"

    def applies(self, candidates: Candidates) -> bool:
        return bool(candidates.fired)

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        moved = candidates.rule_moves
        if candidates.plan.sort_key is None:
            self._reweigh(candidates, context, moved)
        hidden: set[str] = set()
        pins: list[tuple[int, str, str]] = []
        for rule in candidates.fired:
            for action in rule.actions:
                if action.kind == "hide" and action.item is not None:
                    hidden.add(action.item)
                elif action.kind == "pin" and action.item is not None:
                    pins.append((action.position, action.item, rule.id))
        named = [*hidden, *(item for _, item, _ in pins)]
        rows_of = context.backends.store.rows_by_id(named) if named else {}
        if hidden:
            out = np.isin(candidates.rows, [rows_of[i] for i in hidden if i in rows_of])
            candidates.rows, candidates.scores = candidates.rows[~out], candidates.scores[~out]
        allowed = candidates.allowed
        placed: set[int] = set()
        for position, item, rule_id in sorted(pins, key=lambda pin: pin[0]):  # stable: the first rule's pin first
            row = rows_of.get(item)
            if row is None or item in hidden or row in placed or (allowed is not None and not (row < len(allowed) and allowed[row])):
                continue
            self._pin(candidates, row, position - 1)
            placed.add(row)
            moved.setdefault(row, []).append(rule_id)
        return candidates

    @staticmethod
    def _reweigh(candidates: Candidates, context: SearchContext, moved: dict[int, list[str]]) -> None:
        rows, scores = candidates.rows, candidates.scores.astype(np.float64)
        if not len(rows):
            return
        # Scores measured from one spread below the lowest: every candidate has a positive share, so a
        # factor of 2 lifts the last to the first's level and a large bury sinks below every other.
        spread = float(scores.max() - scores.min()) or 1.0
        floor = float(scores.min()) - spread
        above = scores - floor
        changed = False
        for rule in candidates.fired:
            for action in rule.actions:
                if action.kind not in ("boost", "bury"):
                    continue
                mask = context.backends.mask(action.conditions)
                if mask is None:
                    continue
                matched = rows_in(mask, rows)
                if not matched.any():
                    continue
                above[matched] *= action.factor if action.kind == "boost" else 1.0 / action.factor
                for row in rows[matched].tolist():
                    moved.setdefault(row, []).append(rule.id)
                changed = True
        if changed:
            scores = floor + above
            order = np.argsort(-scores, kind="stable")
            candidates.rows, candidates.scores = rows[order], scores[order]

    @staticmethod
    def _pin(candidates: Candidates, row: int, index: int) -> None:
        """Move (or insert) `row` to `index` of the ranking, scored as the item it displaces so scores
        never rise down the list."""
        keep = candidates.rows != row
        rows, scores = candidates.rows[keep], candidates.scores[keep]
        index = min(index, len(rows))
        score = float(scores[index]) if index < len(rows) else (float(scores[-1]) if len(scores) else 0.0)
        if index > 0:
            score = min(score, float(scores[index - 1]))
        candidates.rows = np.insert(rows, index, row)
        candidates.scores = np.insert(scores.astype(np.float64), index, score)
