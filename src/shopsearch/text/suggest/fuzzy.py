"""The typo-tolerant fallback: corrected words, and prefixes one edit away; see "Typos" in the package docstring."""

from __future__ import annotations

from typing import Iterator

from sortedcontainers import SortedList

from ..typos import TypoCorrector, is_correctable, is_letter_word
from .phrases import HIGHEST_CHAR, Token, join_tokens, make_token

# Letters a typo's substituted or inserted character is looked for among, by
# script (the index is probed only for characters that really follow).
_LETTER_RANGES = (("a", "z"), ("\u00df", "\u024f"), ("\u0370", "\u03ff"), ("\u0400", "\u052f"), ("\u1e00", "\u1fff"))


def corrected_words(tokens: list[Token], closed: bool, have_exact: bool, corrector: TypoCorrector) -> list[Token] | None:
    """``tokens`` with the corrector's fixes of the complete words; None when it fixed none."""
    words = list(tokens)
    last = len(words) - 1
    changed = False
    for i, token in enumerate(words):
        partial = i == last and not closed
        if partial and (have_exact or len(token.key) < 5):
            continue
        if token.cjk or not is_correctable(token.key):
            continue
        fixed = corrector.correct(token.key)
        if fixed is not None and fixed != token.key:
            words[i] = make_token(fixed, token.start, token.end, False)
            changed = True
    return words if changed else None


def one_edit_prefixes(sorted_: SortedList, before: list[Token], typed: Token) -> list[str]:
    """Prefixes in the index that are ``before`` followed by the word ``typed`` at one edit.

    [] for a word too short, or not of letters, for edits to be tried."""
    if typed.cjk or len(typed.key) < 4 or not is_letter_word(typed.key):
        return []
    base, _ = join_tokens(before)
    if before:
        base += " "
    return [base + variant for variant in _edits(sorted_, base, typed.key)]


def _edits(sorted_: SortedList, base: str, word: str) -> list[str]:
    # The longest prefix of the word that still matches: a single edit has
    # to happen at or before that point for the rest to match.
    stop = 0
    while stop < len(word) and _exists(sorted_, base + word[: stop + 1]):
        stop += 1
    variants: dict[str, None] = {}
    for i in range(min(stop + 1, len(word))):
        head = word[:i]
        variants[head + word[i + 1 :]] = None  # deletion
        if i + 1 < len(word):
            variants[head + word[i + 1] + word[i] + word[i + 2 :]] = None  # transposition
        for c in _next_letters(sorted_, base + head):
            if c != word[i]:
                variants[head + c + word[i + 1 :]] = None  # substitution
            variants[head + c + word[i:]] = None  # insertion
    variants.pop(word, None)
    return [v for v in variants if len(v) >= 3 and _exists(sorted_, base + v)]


def _exists(sorted_: SortedList, p: str) -> bool:
    i = sorted_.bisect_left(p)
    return i < len(sorted_) and sorted_[i].startswith(p)


def _next_letters(sorted_: SortedList, p: str) -> Iterator[str]:
    """The letters that follow ``p`` somewhere in the index, found by bisection jumps."""
    n = len(sorted_)
    depth = len(p)
    for low, high in _LETTER_RANGES:
        i = sorted_.bisect_left(p + low)
        while i < n:
            element = sorted_[i]
            if not element.startswith(p) or len(element) <= depth:
                break
            c = element[depth]
            if c > high:
                break
            if c.isalpha():
                yield c
            i = sorted_.bisect_left(p + c + HIGHEST_CHAR)
