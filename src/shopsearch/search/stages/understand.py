"""Understand the query before retrieving: price wording becomes a filter, typos are corrected
to the catalogue's words, the shop's synonyms join the keyword leg, and brand, category and
attribute words become boosts (or filters). What was read is the response's `understood`.

Each step is a pure reading of the query (text/price/, text/synonyms.py) or a lookup in the
catalogue's lexicon (index/lexicon.py); the legs then search the text left once the price
wording is removed ("耳机 500元左右" searches "耳机" with price 400..600), and words searched
beside the query's own (a correction, a synonym) weigh less than an exact match.
"""

from __future__ import annotations

from typing import Any

from ...index.filters import Condition
from ...index.keyword import Alternative
from ...index.lexicon import Entity
from ...text.analyzer import fold, whole_words
from ...text.price import parse_price
from ..candidates import Candidates
from ..context import SearchContext
from ..response import Understood

# Words after which a query names what the product is for, not what it is ("case for laptop",
# "funda para portátil", "适用于笔记本的包"): the product type is named before them.
_FOR_WORDS = frozenset({"for", "para", "de", "with", "con", "适用", "适用于", "用于", "给"})


class Understand:
    name = "understand"

    def applies(self, candidates: Candidates) -> bool:
        return True

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates:
        plan, analyzer = candidates.plan, context.analyzer
        if not plan.understand:
            candidates.groups = analyzer.groups(plan.query)
            return candidates
        settings, backends = context.config.understand, context.backends
        understood = Understood(text=plan.query)
        conditions = list(plan.conditions)

        price = parse_price(plan.query, settings.around)
        if price.price is not None:
            bounds = price.price.as_filter()
            conditions += [Condition(settings.price_field, op, (value,)) for op, value in bounds.items()]
            understood.filters[settings.price_field] = bounds
            understood.spans += [{"start": a, "end": b, "text": plan.query[a:b], "kind": "price"} for a, b in price.spans]
            # A query of price wording alone ("under 30") still needs words to search: it keeps them.
            understood.text = price.text or plan.query
        text = understood.text

        alternatives: list[Alternative] = []
        for expansion in backends.synonyms.expand(text):
            alternatives += [Alternative(analyzer.groups(alt), settings.synonym_weight, alt) for alt in expansion.alternatives]
            understood.synonyms.append({"phrase": expansion.phrase, "alternatives": list(expansion.alternatives)})

        lexicon = backends.lexicon() if settings.typos or settings.entities != "off" else None
        vector_text = text
        if lexicon is not None and settings.typos:
            words = list(dict.fromkeys(whole_words(text)))
            for word in words:
                fixed = lexicon.words.correct(word) if word.isalpha() else None
                # Not a correction: a word of the query already ("night light" is not "light light"),
                # or the same stem ("cords", "cord"), which the keyword leg matches as it is.
                if fixed and fixed not in words and lexicon.key(fixed) != lexicon.key(word):
                    alternatives.append(Alternative(analyzer.groups(fixed), settings.typo_weight, fixed))
                    understood.corrections.append({"from": word, "to": fixed})
                    understood.did_you_mean = _replace_word(understood.did_you_mean or plan.query, word, fixed)
                    if not lexicon.words.count(word):
                        # The keyword leg searches both words; a vector has room for one meaning,
                        # and a word no product has is noise to the model.
                        vector_text = _replace_word(vector_text, word, fixed)

        if lexicon is not None and settings.entities != "off":
            words = whole_words(text)
            head = _head(words)
            for entity in lexicon.entities_in(text):
                use = _use(entity, head, settings.entities)
                condition = Condition(entity.field, "eq", entity.values)
                if use == "filter":
                    conditions.append(condition)
                    understood.filters.setdefault(entity.field, {"in": []})["in"].extend(entity.values)
                elif use == "boost":
                    mask = backends.mask((condition,))
                    if mask is not None:
                        candidates.boosts.append((mask, settings.entity_boost))
                understood.entities.append({**entity.to_dict(), "use": use})
            if settings.type_boost > 0 and len(head):
                self._product_type(candidates, context, words[head[-1]], understood)

        candidates.text, candidates.vector_text = text, vector_text
        candidates.groups = analyzer.groups(text)
        candidates.alternatives = tuple(alternatives)
        candidates.conditions = tuple(conditions)
        candidates.understood = understood
        return candidates


    @staticmethod
    def _product_type(candidates: Candidates, context: SearchContext, word: str, understood: Understood) -> None:
        """Products of the type the query names before products for it: "mouse" lifts mice over mouse pads."""
        backends = context.backends
        mask = backends.lexicon().type_mask(word, backends.columns.size)
        if mask is not None:
            candidates.boosts.append((mask, context.config.understand.type_boost))
            understood.entities.append({"field": "type", "value": word, "text": word, "use": "boost"})


def _replace_word(text: str, word: str, by: str) -> str:
    """`text` with the whole word `word` (as whole_words folds it) replaced by `by`."""
    return " ".join(by if fold(part) == word else part for part in text.split())


def _head(words: list[str]) -> range:
    """Where the product type is named among the query's words: before a "for" word when there is
    one, else the last word (English and Chinese name the head last: "laptop bag", "蓝牙耳机")."""
    for i, word in enumerate(words):
        if word in _FOR_WORDS and i > 0:
            return range(0, i)
    return range(len(words) - 1, len(words)) if words else range(0)


def _use(entity: Entity, head: range, setting: Any) -> str:
    """A brand or an attribute value is the shopper's choice wherever it stands; a category names
    what they want only where the product type is named ("notebook bag" wants bags, not notebooks)."""
    if entity.field == "category" and not any(i in head for i in range(entity.start, entity.end)):
        return "none"
    return str(setting)
