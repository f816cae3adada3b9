"""The catalogue's own words and values, kept current as items are written: what query
understanding corrects typos to, completes prefixes with and recognises as brands and categories.

Built from the catalogue on first use (one read of every record, as one snapshot) and then
updated by each write with the old and new versions of the rows it changed. Kept in memory:
it is derived state, rebuilt on every open, so a crash cannot leave it behind the catalogue.

- words: every alphabetic word of the text fields, with the number of products that carry
  it (text/typos.py corrects query words to them);
- suggestions: titles, brands and categories (text/suggest/);
- entities: the values of the configured fields (brand, category, colour...), keyed by their
  words' stems, so "Laptops" in the catalogue is named by "laptop" in a query;
- languages: how many titles and descriptions are in each language (text/languages.py), which
  decides whether a query's language is one the catalogue has (cross-lingual translation);
- product types: each row's type (text/product_type.py: its category, else its title's head
  noun), so that a query naming a type can prefer products of it to accessories for it.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..text import Analyzer
from ..text.analyzer import whole_words
from ..text.languages import detect as detect_language, shares
from ..text.product_type import type_key
from ..text.suggest import SuggestIndex
from ..text.typos import TypoCorrector
from .keyword import TEXT_FIELDS
from .store import CatalogueStore

MAX_ENTITY_WORDS = 4  # longer values are not what shoppers type
SUGGESTED_FIELDS = ("title", "brand", "category")
LANGUAGE_FIELDS = ("title", "description")


@dataclass(frozen=True)
class Entity:
    field: str
    value: str  # the catalogue's spelling (its most common one)
    values: tuple[str, ...]  # every spelling of it in the catalogue ("HP", "hp"), for a filter
    text: str  # the query's words that name it
    start: int  # the words' positions in the query's whole words, [start, end)
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "text": self.text}


class CatalogueLexicon:
    def __init__(self, analyzer: Analyzer, entity_fields: Sequence[str], product_types: bool = True) -> None:
        self.analyzer = analyzer
        self.entity_fields = tuple(entity_fields)
        self.product_types = product_types  # off: no type is read (each costs a pass over the record's values)
        self.words = TypoCorrector()
        self.suggestions = SuggestIndex(self.words)
        self._entities: dict[tuple[str, ...], dict[str, Counter[str]]] = {}  # key -> field -> spelling -> products
        self._lock = threading.Lock()  # the entity map and the product types
        self.seq = 0  # the last catalogue write it holds
        self._types: dict[tuple[str, ...], int] = {}  # a type's stems -> its code
        self._type_of = np.full(0, -1, dtype=np.int32)  # row -> type code (-1: none)
        self.languages: dict[str, Counter[str]] = {name: Counter() for name in LANGUAGE_FIELDS}

    # -- building and keeping current -------------------------------------------
    @classmethod
    def build(cls, store: CatalogueStore, analyzer: Analyzer, entity_fields: Sequence[str],
              product_types: bool = True) -> "CatalogueLexicon":
        lexicon = cls(analyzer, entity_fields, product_types)
        for seq, row, record in store.live_records():
            lexicon.seq = max(lexicon.seq, seq)
            if record is not None:
                lexicon._change(record, +1)
                lexicon._set_type(row, record)
        lexicon.suggestions.warm()  # the short prefixes' completions, which match most phrases
        return lexicon

    def update(self, seq: int, rows: Sequence[int], current: Sequence[Mapping[str, Any]], deleted: Sequence[int],
               previous: Iterable[Mapping[str, Any]]) -> None:
        """A committed write: `current` are the new records of `rows`, `deleted` rows are gone, and
        `previous` are the replaced or deleted rows' old records. A write the build already read
        (seq not above its snapshot's) is not counted twice."""
        if seq <= self.seq:
            return
        for record in previous:
            self._change(record, -1)
        for row, record in zip(rows, current):
            self._change(record, +1)
            self._set_type(row, record)
        for row in deleted:
            self._set_type(row, None)
        self.seq = seq

    def _change(self, record: Mapping[str, Any], sign: int) -> None:
        words = {w for name in TEXT_FIELDS for w in whole_words(_text(record.get(name))) if w.isalpha()}
        for word in words:
            (self.words.add if sign > 0 else self.words.remove)(word, 1)
        for name in SUGGESTED_FIELDS:
            for value in _values(record.get(name)):
                (self.suggestions.add if sign > 0 else self.suggestions.remove)(value, name)
        languages = [(name, detect_language(text)) for name in LANGUAGE_FIELDS if (text := _text(record.get(name))).strip()]
        with self._lock:
            for name, language in languages:
                self.languages[name][language] += sign
            for name in self.entity_fields:
                for value in _values(record.get(name)):
                    key = self.key(value)
                    if not key or len(key) > MAX_ENTITY_WORDS:
                        continue
                    spellings = self._entities.setdefault(key, {}).setdefault(name, Counter())
                    spellings[value] += sign
                    if spellings[value] <= 0:
                        del spellings[value]
                        if not spellings:
                            del self._entities[key][name]
                            if not self._entities[key]:
                                del self._entities[key]

    def _set_type(self, row: int, record: Mapping[str, Any] | None) -> None:
        if not self.product_types:
            return
        named = type_key(record) if record is not None else None
        key = self.key(named) if named else ()
        with self._lock:
            if row >= len(self._type_of):
                grown = np.full(max(row + 1, 2 * len(self._type_of), 1024), -1, dtype=np.int32)
                grown[:len(self._type_of)] = self._type_of
                self._type_of = grown
            self._type_of[row] = self._types.setdefault(key, len(self._types)) if key else -1

    def type_mask(self, text: str, size: int) -> np.ndarray | None:
        """Rows whose product type the text names (by stems), as a mask over `size` rows; None when no
        product is of that type."""
        code = self._types.get(self.key(text))
        if code is None:
            return None
        with self._lock:
            of = self._type_of[:size]
            mask = np.zeros(size, dtype=bool)
            mask[:len(of)] = of == code
        return mask if mask.any() else None

    def key(self, text: str) -> tuple[str, ...]:
        """A phrase's words by their stems: how a query's words and a value's are compared."""
        return tuple(self._stem(w) for w in whole_words(text))

    def _stem(self, word: str) -> str:
        groups = self.analyzer.groups(word)
        return groups[0][0] if groups else word

    # -- reading ------------------------------------------------------------------
    def language_counts(self) -> dict[str, dict[str, int]]:
        """Per text field, how many products' text is in each language ("und": not determined)."""
        with self._lock:
            return {name: dict(+counted) for name, counted in self.languages.items()}

    def language_shares(self) -> dict[str, float]:
        """Each language's share of the titles and descriptions whose language is determined."""
        with self._lock:
            counted = self.languages["title"] + self.languages["description"]
        return shares(counted)

    def entities_in(self, words: Sequence[str]) -> list[Entity]:
        """The values of entity fields a text's whole words name, longest first, left to right, not overlapping."""
        keys = [self._stem(w) for w in words]
        found: list[Entity] = []
        start = 0
        with self._lock:
            while start < len(words):
                for end in range(min(len(words), start + MAX_ENTITY_WORDS), start, -1):
                    fields = self._entities.get(tuple(keys[start:end]))
                    if fields:
                        joiner = "" if all(not w.isascii() for w in words[start:end]) else " "
                        for name, spellings in fields.items():
                            found.append(Entity(name, spellings.most_common(1)[0][0], tuple(spellings),
                                                joiner.join(words[start:end]), start, end))
                        start = end
                        break
                else:
                    start += 1
        return found


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value if isinstance(v, (str, int, float)))
    return value if isinstance(value, str) else ""


def _values(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]
