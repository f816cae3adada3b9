"""Multilingual product-text analysis for the keyword leg.

One analyzer serves documents and queries, so whatever a product's text is
turned into, a query typed the same way is turned into the same terms.

Pipeline: NFKC (full-width to half-width) -> case folding -> split into
CJK runs and Latin/number tokens -> jieba search-mode segmentation for CJK
runs -> for Latin tokens, the original plus its parts (model numbers,
sizes and SKUs stay findable whole and in pieces) -> Snowball stemming of
alphabetic tokens in each configured language -> accent folding.

Each surface token yields a *group* of variant terms (its stems in several
languages). The keyword index stores every variant; a query scores each
group once, by its best variant, so a word whose English and Spanish stems
differ is not counted twice.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

import Stemmer

# CJK ideographs, kana and hangul: segmented by jieba rather than split on
# word boundaries, which these scripts do not have.
CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul
)
_CJK_RUN = re.compile(f"[{CJK}]+")
# A Latin/number token: letters and digits, joined by the punctuation that
# model numbers and SKUs use ("dv7-1211ea", "usb-c", "3.5mm", "a/b", "c++").
_WORD = re.compile(rf"[^\W_{CJK}]+(?:[-./+&'][^\W_{CJK}]+)*\+*")
# Separators between the parts of a compound token; a dot between digits is
# a decimal point, not a separator ("3.5mm" -> "3.5", "mm").
_SEPARATORS = re.compile(r"[-/+&']+|(?<!\d)\.|\.(?!\d)")
# Letter/digit boundaries inside a part: "iphone15" -> "iphone", "15".
_ALNUM_SPLIT = re.compile(r"\d+(?:[.,]\d+)?|[^\W\d_]+")


def normalize(text: str) -> str:
    """NFKC then case folding: 'ＵＳＢ－Ｃ' and 'usb-c' analyse alike."""
    return unicodedata.normalize("NFKC", text).casefold()


def fold_accents(term: str) -> str:
    """Strip combining marks: 'papá' and 'papa' meet (users often skip accents)."""
    if term.isascii():
        return term
    decomposed = unicodedata.normalize("NFD", term)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_jieba_lock = threading.Lock()
_jieba = None


def segmenter():
    """jieba, loaded on first CJK text only: its dictionary takes a second to load."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def fold(text: str) -> str:
    """How phrases (synonyms, brand and category values) are compared: NFKC, case and accents
    folded, single spaces."""
    return " ".join(fold_accents(normalize(text)).split())


def whole_words(text: str) -> list[str]:
    """A text's words as typed, folded, without the parts the index also stores ("usb-c" stays one
    word): Latin/number tokens whole, CJK runs cut by jieba's precise mode."""
    return _split(fold(text), lambda latin: [_without_possessive(w) for w in _WORD.findall(latin)],
                  lambda run: segmenter().lcut(run))


def _split(text: str, latin: Callable[[str], list[str]], cjk: Callable[[str], Iterable[str]]) -> list[str]:
    """Tokens of an already normalised text: its Latin stretches by `latin`, its CJK runs by `cjk`."""
    tokens: list[str] = []
    pos = 0
    for run in _CJK_RUN.finditer(text):
        tokens.extend(latin(text[pos:run.start()]))
        tokens.extend(t for t in cjk(run.group()) if t.strip())
        pos = run.end()
    tokens.extend(latin(text[pos:]))
    return tokens


def _without_possessive(word: str) -> str:
    """English possessive: "men's" -> "men"."""
    return word[:-2] if word.endswith(("'s", "\u2019s")) else word


@dataclass(frozen=True)
class Analyzer:
    """Turns text into groups of index terms; see the module docstring."""

    stem_languages: tuple[str, ...] = ("english", "spanish")

    def __post_init__(self) -> None:
        for lang in self.stem_languages:
            if lang not in Stemmer.algorithms():
                raise ValueError(f"unknown stemming language {lang!r}; choose from {Stemmer.algorithms()}")

    def groups(self, text: str) -> tuple[tuple[str, ...], ...]:
        """Variant groups in text order; each group is one surface token's terms.

        Memoised: ranking features and explanations analyse the same popular
        products' titles over and over."""
        return _analyze(self.stem_languages, text)

    def terms(self, text: str) -> list[str]:
        """Every variant of every group, flattened: what the index stores."""
        return [term for group in self.groups(text) for term in group]

    def term_set(self, text: str) -> frozenset[str]:
        """The distinct terms of a text, memoised: explanations ask again and
        again for the same popular products' fields."""
        return _term_set(self.stem_languages, text)


def surface_tokens(text: str) -> list[str]:
    """Normalised surface tokens before stemming: originals, then their parts."""
    return _split(normalize(text), _latin_tokens, lambda run: segmenter().cut_for_search(run))


def _latin_tokens(text: str) -> list[str]:
    out: list[str] = []
    for match in _WORD.finditer(text):
        word = _without_possessive(match.group())
        out.append(word)
        parts = [p for p in _SEPARATORS.split(word) if p]
        if len(parts) == 1:
            # A word and a number run together split in two ("iphone15",
            # "350ml"); longer alternations are model codes ("fa831aa") whose
            # pieces ("aa") would only match noise, and compounds split only
            # at their separators ("dv7-1211ea" -> "dv7", "1211ea").
            pieces = _ALNUM_SPLIT.findall(word)
            parts = pieces if len(pieces) == 2 else parts
        out.extend(p for p in dict.fromkeys(parts) if p != word)
    return out


@lru_cache(maxsize=None)
def _stemmers(languages: tuple[str, ...]) -> tuple:
    return tuple(Stemmer.Stemmer(lang) for lang in languages)


# Stemming the same product words over and over is the analyzer's hot spot;
# catalogue vocabularies are small enough to memoise.
@lru_cache(maxsize=200_000)
def _variants(languages: tuple[str, ...], token: str) -> tuple[str, ...]:
    if not token.isalpha() or _CJK_RUN.search(token):
        return (fold_accents(token),)
    stems = (stemmer.stemWord(token) for stemmer in _stemmers(languages))
    return tuple(dict.fromkeys(fold_accents(s) for s in stems)) or (fold_accents(token),)


@lru_cache(maxsize=20_000)
def _term_set(languages: tuple[str, ...], text: str) -> frozenset[str]:
    return frozenset(term for group in _analyze(languages, text) for term in group)


@lru_cache(maxsize=50_000)
def _analyze(languages: tuple[str, ...], text: str) -> tuple[tuple[str, ...], ...]:
    if not text:
        return ()
    return tuple(_variants(languages, token) for token in surface_tokens(text))
