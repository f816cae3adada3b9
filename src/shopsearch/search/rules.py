"""Merchandising rules: when a search matches a rule's condition, its actions pin, hide, boost, bury
or filter products (Algolia Rules, Elasticsearch query rules, Typesense curation).

A rule as written (PUT /v1/rules, `shopsearch rules set`):

    {"id": "iphone-launch", "when": {"query": "iphone"},
     "actions": [{"pin": "ITEM_ID", "position": 1}, {"boost": {"brand": "Apple"}, "factor": 2}],
     "active_from": "2026-12-01T00:00:00Z", "active_until": null, "enabled": true}

Conditions (`when`, every key given must hold):
- `query`: the query, normalised (case, accents, width and spaces folded), equals this text;
- `contains`: the query has these words (each by any of its analysed variants: "phones" has "phone");
- `brand`, `category` (or any field query understanding reads entities from): understanding read
  that value in the query;
- `always: true`: every search.
Actions:
- `{"pin": ID, "position": N}`: the item at position N (from 1), if it passes the search's filters;
- `{"hide": ID}`: the item never shows;
- `{"boost": FILTER, "factor": F}` / `{"bury": FILTER, "factor": F}` (F > 1, default 2): the matching
  products' scores, measured from one spread (highest - lowest) below the list's lowest, are multiplied
  (boost) or divided (bury) by F, so the factor means the same under every fusion: 2 lifts the last
  candidate to the first's level; a search sorted by a field keeps its order;
- `{"filter": FILTER}`: the search is filtered so, inside both legs as a request's filters are.
FILTER is the request's filter syntax (index/filters.py). Everything here is pure: the engine checks
the items named exist, and search/stages/rules.py applies the rules that fire.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Collection, Mapping, Sequence

from ..errors import InvalidRequest
from ..index.filters import Condition, InvalidFilter, parse_filters
from ..text.analyzer import fold

MAX_RULES = 10_000
MAX_ACTIONS = 50
ID_CHARS = 128
CONDITION_KEYS = ("query", "contains", "always")
ACTION_KINDS = ("pin", "hide", "boost", "bury", "filter")
RULE_KEYS = {"id", "when", "actions", "active_from", "active_until", "enabled", "description"}

Groups = Callable[[str], Sequence[tuple[str, ...]]]  # the analyser's variant groups of a text


@dataclass(frozen=True)
class Action:
    kind: str  # one of ACTION_KINDS
    item: str | None = None  # pin, hide
    position: int = 0  # pin, from 1
    conditions: tuple[Condition, ...] = ()  # boost, bury, filter
    factor: float = 1.0  # boost, bury


@dataclass(frozen=True)
class Rule:
    id: str
    query: str | None = None  # normalised
    contains: str | None = None
    entities: tuple[tuple[str, str], ...] = ()  # (field, folded value) understanding must read
    actions: tuple[Action, ...] = ()
    active_from: float | None = None  # unix seconds
    active_until: float | None = None
    enabled: bool = True
    written: Mapping[str, Any] = field(default_factory=dict, compare=False)  # as the user wrote it

    def active(self, now: float) -> bool:
        return (self.enabled and (self.active_from is None or self.active_from <= now)
                and (self.active_until is None or now < self.active_until))

    @property
    def items(self) -> list[tuple[str, str]]:
        """(param, item id) of each item the rule names."""
        return [(f"actions[{i}].{a.kind}", a.item) for i, a in enumerate(self.actions) if a.item is not None]


@dataclass(frozen=True)
class Query:
    """What a rule's condition is tested against."""

    text: str  # as typed
    terms: frozenset[str]  # every variant of the query's analysed words
    entities: frozenset[tuple[str, str]]  # (field, folded value) understanding read


@dataclass
class RuleSet:
    rules: tuple[Rule, ...] = ()
    _contains: dict[str, list[tuple[str, ...]]] = field(default_factory=dict, repr=False)

    def fired(self, query: Query, groups: Groups, now: float) -> list[Rule]:
        """The active rules whose conditions the query meets, in the order they were written."""
        normalised = fold(query.text)
        out = []
        for rule in self.rules:
            if not rule.active(now):
                continue
            if rule.query is not None and rule.query != normalised:
                continue
            if rule.contains is not None and not all(query.terms.intersection(g) for g in self._groups(rule.contains, groups)):
                continue
            if any(entity not in query.entities for entity in rule.entities):
                continue
            out.append(rule)
        return out

    def _groups(self, text: str, groups: Groups) -> list[tuple[str, ...]]:
        found = self._contains.get(text)
        if found is None:
            found = self._contains[text] = [g for g in groups(text) if g] or [(fold(text),)]
        return found

    def boundaries_passed(self, now: float) -> int:
        """How many activation times (from, until) lie in the past: grows as rules start and end, so an
        answer cached before a rule started is not served after."""
        return sum(1 for r in self.rules for t in (r.active_from, r.active_until) if t is not None and t <= now)

    def to_json(self) -> str:
        return json.dumps([dict(r.written) for r in self.rules], ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> "RuleSet":
        """Stored rules, read back whatever fields understanding reads now (they were checked when written)."""
        return parse_rules(json.loads(text), None) if text else cls()


def parse_rules(rules: Any, entity_fields: Collection[str] | None) -> RuleSet:
    """Validate rules as written; InvalidRequest naming the rule and its field (param `rules[i].field`).
    entity_fields: the fields a condition may name besides query, contains and always (None: any)."""
    if not isinstance(rules, list):
        raise InvalidRequest("rules must be a list of rules", "rules")
    if len(rules) > MAX_RULES:
        raise InvalidRequest(f"at most {MAX_RULES} rules, got {len(rules)}", "rules")
    parsed, seen = [], set()
    for i, written in enumerate(rules):
        rule = parse_rule(written, entity_fields, f"rules[{i}]")
        if rule.id in seen:
            raise InvalidRequest(f"rule {rule.id!r} is given twice: ids must be unique", f"rules[{i}].id")
        seen.add(rule.id)
        parsed.append(rule)
    return RuleSet(tuple(parsed))


def parse_rule(written: Any, entity_fields: Collection[str] | None, where: str = "rule") -> Rule:
    if not isinstance(written, dict):
        raise InvalidRequest(f"{where} must be an object", where)
    rule_id = written.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip() or len(rule_id) > ID_CHARS:
        raise InvalidRequest(f"{where}: id must be a non-empty string of at most {ID_CHARS} characters", f"{where}.id")
    name = f"rule {rule_id!r}"

    def fail(message: str, param: str) -> InvalidRequest:
        return InvalidRequest(f"{name}: {message}", f"{where}.{param}")

    unknown = sorted(set(written) - RULE_KEYS)
    if unknown:
        raise fail(f"unknown field {unknown[0]!r}; known: {', '.join(sorted(RULE_KEYS))}", unknown[0])
    when = written.get("when")
    if not isinstance(when, dict) or not when:
        raise fail(f"when must be an object with one or more of {', '.join([*CONDITION_KEYS, *(entity_fields or ())])}",
                   "when")
    texts: dict[str, str] = {}
    entities = []
    for key, value in when.items():
        if key == "always":
            if value is not True:
                raise fail("when.always must be true (leave it out otherwise)", "when.always")
            continue
        if key not in CONDITION_KEYS and entity_fields is not None and key not in entity_fields:
            raise fail(f"unknown condition {key!r}; known: {', '.join([*CONDITION_KEYS, *entity_fields])}", f"when.{key}")
        if not isinstance(value, str) or not fold(value):
            raise fail(f"when.{key} must be a non-empty string", f"when.{key}")
        if key in CONDITION_KEYS:
            texts[key] = value
        else:
            entities.append((key, fold(value)))
    actions = written.get("actions")
    if not isinstance(actions, list) or not actions or len(actions) > MAX_ACTIONS:
        raise fail(f"actions must be a list of 1 to {MAX_ACTIONS} actions", "actions")
    enabled = written.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled must be true or false", "enabled")
    description = written.get("description")
    if description is not None and not isinstance(description, str):
        raise fail("description must be a string", "description")
    active_from, active_until = (_time(written.get(key), fail, key) for key in ("active_from", "active_until"))
    if active_from is not None and active_until is not None and active_until <= active_from:
        raise fail("active_until must be after active_from", "active_until")
    # `always` alone leaves no condition to test: the rule fires on every search.
    return Rule(rule_id, query=fold(texts["query"]) if "query" in texts else None, contains=texts.get("contains"),
                entities=tuple(entities),
                actions=tuple(_action(a, fail, f"actions[{j}]") for j, a in enumerate(actions)),
                active_from=active_from, active_until=active_until, enabled=enabled, written=dict(written))


def _action(written: Any, fail: Callable[[str, str], InvalidRequest], where: str) -> Action:
    if not isinstance(written, dict):
        raise fail(f"{where} must be an object", where)
    kinds = [k for k in ACTION_KINDS if k in written]
    if len(kinds) != 1:
        raise fail(f"{where} must have exactly one of {', '.join(ACTION_KINDS)}", where)
    kind = kinds[0]
    allowed = {kind, *{"pin": ("position",), "boost": ("factor",), "bury": ("factor",)}.get(kind, ())}
    extra = sorted(set(written) - allowed)
    if extra:
        raise fail(f"{where}: a {kind} action takes no {extra[0]!r}", f"{where}.{extra[0]}")
    value = written[kind]
    if kind in ("pin", "hide"):
        if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
            raise fail(f"{where}.{kind} must be an item id", f"{where}.{kind}")
        position = written.get("position", 1) if kind == "pin" else 0
        if kind == "pin" and (isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= 1000):
            raise fail(f"{where}.position must be an integer from 1 to 1000", f"{where}.position")
        return Action(kind, item=str(value), position=position)
    try:
        conditions = tuple(parse_filters(value))
    except InvalidFilter as exc:
        raise fail(f"{where}.{kind}: {exc}", f"{where}.{kind}") from None
    if not conditions:
        raise fail(f"{where}.{kind} must be a filter (e.g. {{\"brand\": \"Apple\"}})", f"{where}.{kind}")
    if kind == "filter":
        return Action(kind, conditions=conditions)
    factor = written.get("factor", 2.0)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or not factor > 1:
        raise fail(f"{where}.factor must be a number above 1 (bury divides by it)", f"{where}.factor")
    return Action(kind, conditions=conditions, factor=float(factor))


def _time(value: Any, fail: Callable[[str, str], InvalidRequest], key: str) -> float | None:
    """Unix seconds or an ISO 8601 time (without a zone: UTC)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    raise fail(f"{key} must be an ISO 8601 time (2026-12-01T00:00:00Z) or unix seconds, got {value!r}", key)
