"""The data directory's merchandising rules (search/rules.py): stored with the catalogue, replaced as a
whole or one deleted, each change a new index version (cached answers from before are not served).

A write is checked whole before anything is stored: a bad field or an item the catalogue does not
hold is refused (InvalidRequest naming the rule and field) and the rules in force stay as they were.
An item deleted later simply stops being pinned or hidden: a rule kept as it is stored is not
checked against the catalogue again, so deleting one rule, or saving the set back with one rule
changed, never fails on another rule's deleted item.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from ..errors import InvalidRequest
from ..index.backends import Backends
from .context import SearchContext
from .plan import SearchPlan
from .rules import RuleSet, parse_rules

RULES_KEY = "merchandising_rules"


def load(backends: Backends) -> RuleSet:
    return RuleSet.from_json(backends.store.get_meta(RULES_KEY))


def checked(backends: Backends, written: Any, in_force: RuleSet) -> RuleSet:
    """Rules as written, validated; every item a new or changed rule names is in the catalogue."""
    rules = parse_rules(written, backends.config.understand.entity_fields)
    stored = {rule.id: rule.written for rule in in_force.rules}
    named = [(i, param, item) for i, rule in enumerate(rules.rules) if stored.get(rule.id) != rule.written
             for param, item in rule.items]
    found = backends.store.rows_by_id(list({item for _, _, item in named}))
    for i, param, item in named:
        if item not in found:
            raise InvalidRequest(f"rule {rules.rules[i].id!r}: {param} names item {item!r}, which the catalogue does not hold",
                                 f"rules[{i}].{param}")
    return rules


def replace_all(backends: Backends, context: SearchContext, written: Any) -> RuleSet:
    rules = checked(backends, written, context.rules)
    backends.store_setting(RULES_KEY, rules.to_json(), lambda: setattr(context, "rules", rules))
    return rules


def delete(backends: Backends, context: SearchContext, rule_id: str) -> bool:
    """Delete one rule by id; False when there is none."""
    kept = [dict(rule.written) for rule in context.rules.rules if rule.id != rule_id]
    if len(kept) == len(context.rules.rules):
        return False
    replace_all(backends, context, kept)
    return True


def draft_plans(backends: Backends, context: SearchContext, plan: SearchPlan,
                written: Sequence[Any]) -> tuple[SearchPlan, SearchPlan]:
    """The plans of a preview: the search as the rules in force answer it, and as `written` would."""
    draft = checked(backends, written, context.rules)
    return replace(plan, rules=True, draft_rules=None), replace(plan, rules=True, draft_rules=draft)
