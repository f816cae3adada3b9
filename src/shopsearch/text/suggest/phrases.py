"""Tokens, normalised keys and the phrases a title gives; see "Phrases" and "Matching" in the package docstring."""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from ..analyzer import CJK, fold_accents, normalize, segmenter

# Joins a whole value's word suffix to its phrase in the sorted index
# ("suffix\0phrase"), so no key may hold it.
SUFFIX_SEP = "\x00"
# Sorts after any character of a key: the keys starting with p lie in [p, p + HIGHEST_CHAR).
HIGHEST_CHAR = "\U0010ffff"

_MAX_NGRAM = 3
_MAX_TITLE_TOKENS = 32

# Full-width forms of the joiners too: tokens are cut from the original text,
# before NFKC, so that what is shown keeps its original form.
_JOINERS = "-./+&'\uff0d\uff0e\uff0f\uff0b\uff06\uff07"
_TOKEN = re.compile(rf"[{CJK}]+|[^\W_{CJK}]+(?:[{_JOINERS}][^\W_{CJK}]+)*\+*")
_IS_CJK = re.compile(f"[{CJK}]")
_INTEGER = re.compile(r"\d{1,3}")
_DIGIT = re.compile(r"\d")
# Punctuation between two tokens ends a phrase ("Bag, Black", "Case - Blue");
# the marks of "Intel® Core™ i7" do not.
_BREAK = re.compile("[^\\w\\s\u00a9\u00ae\u2122]")
_LETTER = re.compile(r"[^\W\d_]")

# Words that neither start nor end a title phrase: English, Spanish, French,
# German, Italian and Portuguese function words, and Chinese particles.
_STOPWORDS = frozenset(
    """
    a an and are as at be by for from in into is it of on or the to with without incl
    de del el la las los lo y o u con sin para por en al un una unos unas
    le les des du et ou avec sans pour au aux sur une
    der die das den dem des und oder mit ohne fur für von zu zum zur im am ein eine einer einem einen
    il lo gli di da e per su nel nella uno
    do dos das com sem em no na os um uma
    的 和 与 及 或 款 个 是 在 了 用
    """.split()
)


class Token(NamedTuple):
    key: str  # normalised
    start: int  # in the original text
    end: int
    cjk: bool
    word: bool  # no digits: may start or continue a title phrase
    stop: bool  # a stopword or a lone Latin letter: may not start or end one


def _segment(run: str) -> list[tuple[int, int]]:
    """jieba's word spans in a CJK run (jieba loads on first use: its dictionary takes a second)."""
    if len(run) <= 1:
        return [(0, len(run))]
    return [(start, end) for _, start, end in segmenter().tokenize(run)]


def _norm(token: str) -> str:
    # NFKC may expand a character into several, never into whitespace that
    # should split a token; a key must not hold spaces or the separator.
    key = fold_accents(normalize(token))
    if key.isalnum():
        return key
    return "".join(key.split()).replace(SUFFIX_SEP, "")


def make_token(key: str, start: int, end: int, cjk: bool) -> Token:
    word = cjk or _DIGIT.search(key) is None
    stop = key in _STOPWORDS or (not cjk and len(key) == 1)
    return Token(key, start, end, cjk, word, stop)


def tokenize(text: str, segment: bool) -> list[Token]:
    """Tokens with their spans in ``text``; CJK runs split into jieba words when ``segment``."""
    out: list[Token] = []
    if text.isascii():
        # ASCII keeps its length through NFKC and case folding, so one call
        # normalises every token at once and the spans still apply.
        folded = normalize(text)
        for match in _TOKEN.finditer(text):
            start, end = match.span()
            out.append(make_token(folded[start:end], start, end, False))
        return out
    for match in _TOKEN.finditer(text):
        raw = match.group()
        start = match.start()
        if _IS_CJK.match(raw):
            spans = _segment(raw) if segment else [(0, len(raw))]
            out.extend(make_token(_norm(raw[s:e]), start + s, start + e, True) for s, e in spans if raw[s:e].strip())
        else:
            key = _norm(raw)
            if key:
                out.append(make_token(key, start, match.end(), False))
    return out


def join_tokens(tokens: Iterable[Token]) -> tuple[str, tuple[int, ...]]:
    """The normalised phrase of consecutive tokens, and where its later tokens start in it."""
    parts: list[str] = []
    starts: list[int] = []
    length = 0
    prev_cjk: bool | None = None
    for token in tokens:
        if prev_cjk is not None:
            if not (prev_cjk and token.cjk):
                parts.append(" ")
                length += 1
            starts.append(length)
        parts.append(token.key)
        length += len(token.key)
        prev_cjk = token.cjk
    return "".join(parts), tuple(starts)


def display_form(text: str) -> str:
    return " ".join(text.split())


def _ends_model(token: Token) -> bool:
    """A digit-bearing token that may end a phrase: "15" in "iphone 15", "i7", "s23".

    A model name starts with a letter; a token starting with a digit is a
    quantity ("512gb", "65w", "4k") and makes phrases nobody completes to."""
    key = token.key
    return _INTEGER.fullmatch(key) is not None or key[:1].isalpha()


def title_phrases(title: str) -> dict[str, str]:
    """The phrases a title contributes: normalised key -> the title's form of it."""
    tokens = tokenize(title, segment=True)[:_MAX_TITLE_TOKENS]
    phrases: dict[str, str] = {}
    n = len(tokens)
    for i, first in enumerate(tokens):
        if not first.word:
            if not first.cjk and len(first.key) >= 3 and _LETTER.search(first.key):
                phrases.setdefault(first.key, title[first.start : first.end])  # a model code on its own
            continue
        if first.stop:
            continue
        key = first.key
        if key not in phrases:
            phrases[key] = title[first.start : first.end]
        prev = first
        for j in range(i + 1, min(i + _MAX_NGRAM, n)):
            token = tokens[j]
            if _BREAK.search(title, prev.end, token.start):
                break
            key = f"{key}{token.key}" if prev.cjk and token.cjk else f"{key} {token.key}"
            prev = token
            if not token.word:
                if _ends_model(token) and key not in phrases:
                    phrases[key] = display_form(title[first.start : token.end])
                break
            if not token.stop and key not in phrases:
                phrases[key] = display_form(title[first.start : token.end])
    return phrases
