"""A shop's managed synonyms: parsed from a Solr-style text file, applied to a query's words.

File format, one entry per line (as Solr's and Elasticsearch's synonym files):
    tv, television, 电视          multi-way: each phrase finds the others
    laptop => notebook, ultrabook one-way: "laptop" also finds "notebook" and "ultrabook", not back
    # a comment, and blank lines, are ignored
Phrases may have several words ("cell phone, mobile phone"). Matching folds case, width and
accents as the analyzer does, so "TV", "ｔｖ" and "tv" are one phrase. A query keeps its own words
at full weight; a synonym is searched beside them (see search/stages/understand.py).

A malformed line is refused with its number, and then nothing of the file is applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .analyzer import CJK, fold

MAX_ENTRIES = 10_000
MAX_PHRASE_CHARS = 200
_ARROW = "=>"
# Latin words bound a phrase at word edges; CJK text has no spaces, so a CJK phrase matches anywhere.
_CJK_CHAR = re.compile(f"[{CJK}]")


class InvalidSynonyms(ValueError):
    """A synonyms file or entry that cannot be used; the message names the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


@dataclass(frozen=True)
class SynonymRule:
    phrases: tuple[str, ...]  # as written (folded for matching by `fold`)
    targets: tuple[str, ...] = ()  # one-way: what `phrases` also find; empty: the phrases find each other

    @property
    def one_way(self) -> bool:
        return bool(self.targets)

    def to_line(self) -> str:
        return f"{', '.join(self.phrases)} => {', '.join(self.targets)}" if self.targets else ", ".join(self.phrases)


@dataclass(frozen=True)
class Expansion:
    phrase: str  # the query's folded words that matched
    start: int  # [start, end) in the folded query
    end: int
    alternatives: tuple[str, ...]  # folded phrases searched beside it


def parse_synonyms(text: str) -> tuple[SynonymRule, ...]:
    """Every entry of a synonyms file, or InvalidSynonyms naming the first bad line."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rules.append(parse_rule(line, number))
        if len(rules) > MAX_ENTRIES:
            raise InvalidSynonyms(f"more than {MAX_ENTRIES} entries", number)
    return tuple(rules)


def parse_rule(line: str, number: int | None = None) -> SynonymRule:
    if line.count(_ARROW) > 1:
        raise InvalidSynonyms(f"more than one '=>' in {line!r}", number)
    if _ARROW in line:
        left, _, right = line.partition(_ARROW)
        phrases, targets = _phrases(left, line, number, "left of '=>'"), _phrases(right, line, number, "right of '=>'")
        return SynonymRule(phrases, targets)
    phrases = _phrases(line, line, number, "")
    if len(phrases) < 2:
        raise InvalidSynonyms(f"{line!r} names one phrase: list two or more ('tv, television') "
                              "or map one way ('laptop => notebook')", number)
    return SynonymRule(phrases)


def _phrases(part: str, line: str, number: int | None, where: str) -> tuple[str, ...]:
    phrases = [" ".join(p.split()) for p in part.split(",")]
    if any(not p for p in phrases):
        side = f" {where}" if where else ""
        raise InvalidSynonyms(f"an empty phrase{side} in {line!r}", number)
    for phrase in phrases:
        if len(phrase) > MAX_PHRASE_CHARS:
            raise InvalidSynonyms(f"a phrase over {MAX_PHRASE_CHARS} characters in {line!r}", number)
        if not fold(phrase):
            raise InvalidSynonyms(f"phrase {phrase!r} has no words", number)
    return tuple(dict.fromkeys(phrases))


class SynonymSet:
    """The rules, compiled for lookup: folded phrase -> the folded phrases it also finds."""

    def __init__(self, rules: tuple[SynonymRule, ...] = ()) -> None:
        self.rules = rules
        finds: dict[str, dict[str, None]] = {}
        for rule in rules:
            sources = [fold(p) for p in rule.phrases]
            targets = [fold(p) for p in rule.targets] if rule.one_way else sources
            for source in sources:
                found = finds.setdefault(source, {})
                found.update((t, None) for t in targets if t != source)
        self._finds = {source: tuple(found) for source, found in finds.items() if found}
        # Longest phrases first, so "cell phone" wins over "phone" where both are entries.
        self._pattern = self._compile(sorted(self._finds, key=len, reverse=True))

    @staticmethod
    def _compile(phrases: list[str]) -> re.Pattern[str] | None:
        if not phrases:
            return None
        parts = []
        for phrase in phrases:
            body = re.escape(phrase).replace(r"\ ", r"\s+")
            left = "" if _CJK_CHAR.match(phrase[0]) else r"(?<!\w)"
            right = "" if _CJK_CHAR.match(phrase[-1]) else r"(?!\w)"
            parts.append(f"{left}{body}{right}")
        return re.compile("|".join(parts))

    def __len__(self) -> int:
        return len(self.rules)

    def expand(self, query: str) -> list[Expansion]:
        """The query's phrases that have synonyms, left to right, not overlapping."""
        if self._pattern is None:
            return []
        folded = fold(query)
        return [Expansion(m.group(), m.start(), m.end(), self._finds[" ".join(m.group().split())])
                for m in self._pattern.finditer(folded)]

    def to_text(self) -> str:
        return "".join(rule.to_line() + "\n" for rule in self.rules)
