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

import numpy as np

from ...config import UnderstandConfig
from ...errors import IndexUnavailable
from ...index.filters import Condition
from ...index.keyword import Alternative
from ...index.lexicon import CatalogueLexicon, Entity
from ...text import Analyzer
from ...text.analyzer import fold, whole_words
from ...text.crosslingual import gloss_phrases, weighted
from ...text.languages import UNDETERMINED, detect as detect_language, is_function_word
from ...text.price import parse_price
from ...text.synonyms import SynonymSet
from ..candidates import Candidates
from ..context import SearchContext
from ..resilience import ModelCallFailed
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
        conditions = [*plan.conditions, *_read_price(plan.query, settings, understood)]
        text = vector_text = understood.text
        alternatives = _synonyms(text, backends.synonyms, analyzer, settings, understood)
        lexicon = backends.lexicon() if settings.typos or settings.entities != "off" or plan.translate else None
        words = whole_words(text) if lexicon is not None else []
        understood.language = detect_language(plan.query)
        if lexicon is not None and settings.typos:
            corrections, vector_text = _corrections(text, words, plan.query, lexicon, analyzer, settings, understood)
            alternatives += corrections
        if lexicon is not None and plan.translate:
            alternatives += _translations(words, lexicon, context, understood, candidates, vector_text)
            if understood.translations:
                # The model reads the query with its words' translations beside it: measured better than the
                # query alone on the cross-lingual dev set (vector leg, Chinese 0.31 to 0.51 of English).
                vector_text = vector_text + " " + " ".join(t["to"][0] for t in understood.translations)
        if lexicon is not None and settings.entities != "off":
            conditions += _entities(words, lexicon, context, candidates.boosts, understood)
        candidates.text, candidates.vector_text = text, vector_text
        candidates.groups = analyzer.groups(text)
        candidates.alternatives = tuple(alternatives)
        candidates.conditions = tuple(conditions)
        candidates.understood = understood
        return candidates


def _read_price(query: str, settings: UnderstandConfig, understood: Understood) -> list[Condition]:
    """Price wording as filter conditions; its words leave the searched text."""
    price = parse_price(query, settings.around)
    if price.price is None:
        return []
    bounds = price.price.as_filter()
    understood.filters[settings.price_field] = bounds
    understood.spans += [{"start": a, "end": b, "text": query[a:b], "kind": "price"} for a, b in price.spans]
    # A query of price wording alone ("under 30") still needs words to search: it keeps them.
    understood.text = price.text or query
    return [Condition(settings.price_field, op, (value,)) for op, value in bounds.items()]


def _synonyms(text: str, synonyms: SynonymSet, analyzer: Analyzer, settings: UnderstandConfig,
              understood: Understood) -> list[Alternative]:
    alternatives = []
    for expansion in synonyms.expand(text):
        alternatives += [Alternative(analyzer.groups(alt), settings.synonym_weight, alt) for alt in expansion.alternatives]
        understood.synonyms.append({"phrase": expansion.phrase, "alternatives": list(expansion.alternatives)})
    return alternatives


def _corrections(text: str, text_words: list[str], query: str, lexicon: CatalogueLexicon, analyzer: Analyzer,
                 settings: UnderstandConfig, understood: Understood) -> tuple[list[Alternative], str]:
    """Each word's correction to the catalogue's words, searched beside it; and the text to embed."""
    alternatives, vector_text = [], text
    words = list(dict.fromkeys(text_words))
    for word in words:
        fixed = lexicon.words.correct(word) if word.isalpha() else None
        # Not a correction: a word of the query already ("night light" is not "light light"),
        # or the same stem ("cords", "cord"), which the keyword leg matches as it is.
        if not fixed or fixed in words or lexicon.key(fixed) == lexicon.key(word):
            continue
        alternatives.append(Alternative(analyzer.groups(fixed), settings.typo_weight, fixed))
        understood.corrections.append({"from": word, "to": fixed})
        understood.did_you_mean = _replace_word(understood.did_you_mean or query, word, fixed)
        if not lexicon.words.count(word):
            # The keyword leg searches both words; a vector has room for one meaning, and a word
            # no product has is noise to the model.
            vector_text = _replace_word(vector_text, word, fixed)
    return alternatives, vector_text


def _translations(words: list[str], lexicon: CatalogueLexicon, context: SearchContext, understood: Understood,
                  candidates: Candidates, vector_text: str) -> list[Alternative]:
    """The catalogue's words for query words it lacks, when the query is in a language the catalogue has
    little of (or one not determined): from a bilingual lexicon, else the model's nearest catalogue terms."""
    settings, language = context.config.understand, understood.language or UNDETERMINED
    have = lexicon.language_shares()
    if have.get(language, 0.0) >= settings.catalogue_language_share:
        return []
    corrected = {c["from"] for c in understood.corrections}
    # A query read as a language other than the catalogue's: each of its words in that language (the
    # catalogue may hold a few of them in some product's text); any other word (and every word when
    # neither language is known), only if the catalogue lacks it.
    foreign = language != UNDETERMINED and bool(have)
    unknown = [w for w in dict.fromkeys(words) if w not in corrected and not is_function_word(w)
               and any(c.isalpha() for c in w) and not lexicon.entities_in([w])
               and (not lexicon.words.count(w) or (foreign and detect_language(w) == language))]
    if not unknown:
        return []
    # The lexicons from the word's script (Han: Chinese, else taken as English) into the catalogue's languages
    # (Latin text of no determined language taken as English): CC-CEDICT into English, inverted into Chinese.
    targets = [lang for lang, share in have.items() if share >= settings.catalogue_language_share] or ["en"]
    found: dict[str, tuple[list[tuple[str, float]], str]] = {}
    for word in unknown:
        source = "zh" if detect_language(word) == "zh" else "en"
        translated = [term for target in targets if target != source
                      for glosses in _glosses(word, context.glossary(source, target), context.analyzer)
                      for term in weighted(gloss_phrases(glosses, lexicon.words.count), settings.translate_terms)]
        if translated:
            found[word] = translated, "lexicon"
    rest = [w for w in unknown if w not in found]
    terms = context.terms() if rest else None
    if terms is not None:
        try:
            with candidates.timed("embed_ms"):
                vectors = terms.word_vectors(rest, context.embed_words)
        except ModelCallFailed:  # the model is down: the lexicon's translations (if any) stand
            vectors = None
        among = _feedback_words(context, vector_text, candidates) if vectors is not None else None
        if vectors is not None:
            nearest = terms.translate(vectors, settings.translate_terms, settings.translate_threshold,
                                      settings.translate_margin, among)
            for word, translated in zip(rest, nearest):
                if translated:
                    found[word] = [(term, 1.0) for term, _ in translated], "embedding"
    alternatives = []
    for word, (translated, source) in found.items():
        for term, weight in translated:
            alternatives.append(Alternative(context.analyzer.groups(term), settings.translate_weight * weight, term))
        understood.translations.append({"from": word, "to": [term for term, _ in translated], "source": source})
    return alternatives


def _feedback_words(context: SearchContext, vector_text: str, candidates: Candidates) -> set[str] | None:
    """The words of the products the query's own vector finds first (translate_feedback of them): the only
    candidates for a word's translation by the model, whose sentence-level alignment across languages is
    better than its word-level one. The query's vector is kept for the vector leg (no second model call)."""
    depth = context.config.understand.translate_feedback
    if depth <= 0 or candidates.plan.mode == "keyword":
        return None
    try:
        with candidates.timed("embed_ms"):
            query_vector = candidates.query_vector = context.embed_query(vector_text, candidates.embed_query)
        with context.backends.reading():
            rows, _ = context.read_vectors(lambda: context.backends.vector.search(query_vector, depth))
    except (ModelCallFailed, IndexUnavailable):  # the model or the vector server is away: all terms stay candidates
        return None
    records = context.backends.store.records(rows.tolist()).values()
    return {w for record in records for w in whole_words(str(record.get("title") or ""))}


def _glosses(word: str, glossary: dict[str, list[str]], analyzer: Analyzer) -> list[list[str]]:
    """A word's glosses; for a compound the lexicon lacks, each of its parts' (jieba's finer words, else its
    characters): "移动硬盘" is "移动" (portable) and "硬盘" (hard disk), each translated."""
    if word in glossary:
        return [glossary[word]]
    if not glossary:
        return []
    parts = [group[0] for group in analyzer.groups(word) if group[0] != word and group[0] in glossary]
    parts = parts or [c for c in word if c in glossary]
    return [glossary[part] for part in dict.fromkeys(parts)]


def _entities(words: list[str], lexicon: CatalogueLexicon, context: SearchContext, boosts: list[tuple[np.ndarray, float]],
              understood: Understood) -> list[Condition]:
    """Brand, category and attribute values the text's words name, as boosts or filters; the product type as a boost."""
    settings, backends = context.config.understand, context.backends
    conditions = []
    head = _head(words)
    for entity in lexicon.entities_in(words):
        use = _use(entity, head, settings.entities)
        condition = Condition(entity.field, "eq", entity.values)
        if use == "filter":
            conditions.append(condition)
            understood.filters.setdefault(entity.field, {"in": []})["in"].extend(entity.values)
        elif use == "boost":
            mask = backends.mask((condition,))
            if mask is not None:
                boosts.append((mask, settings.entity_boost))
        understood.entities.append({**entity.to_dict(), "use": use})
    if settings.type_boost > 0 and len(head):
        # Products of the type the query names before products for it: "mouse" lifts mice over mouse pads.
        word = words[head[-1]]
        mask = lexicon.type_mask(word, backends.columns.size)
        if mask is not None:
            boosts.append((mask, settings.type_boost))
            understood.entities.append({"field": "type", "value": word, "text": word, "use": "boost"})
    return conditions


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
