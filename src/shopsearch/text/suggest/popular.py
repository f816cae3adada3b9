"""The pure parts of popular-query suggestions: which logged queries may be offered, and how their
completions join the catalogue's.

Merging: one suggestion per normalised text (the index's key: case, width, accents and spacing do
not matter). Where both sources have it, the better of the two gives its score and kind: an exact
completion over a fuzzy one (a score found through a typo correction says nothing of the prefix as
typed), else the higher score (the catalogue's on a tie); the text is the catalogue's where its list
has it (the log holds queries folded, the catalogue has the shop's own spelling). Then exact completions before fuzzy
ones, each by score, then by normalised text: the index's own order, so a query's score (1.1 x its
clicked searches, KIND_WEIGHTS) and a catalogue phrase's (its products x 1 for titles, 1.25 for
brands and categories) compete as kinds within one index do.
"""

from __future__ import annotations

import re
from typing import Sequence

from .entries import Suggestion
from .phrases import join_tokens, tokenize

# Longer queries are rarely anyone's popular search, and more often pasted text (an address, a message).
MAX_CHARS = 60
# A query that is mostly a long number is a phone, order, card or tracking number far more often than a
# product: at least this many digits, and more digits than other characters.
LONG_NUMBER_DIGITS = 7
_DIGIT = re.compile(r"\d")


def suggestible(query: str) -> bool:
    """Whether a logged query may be shown to other shoppers: 2..MAX_CHARS characters, no e-mail address
    ("@"), not mostly a long number. What shoppers searched and clicked is the main guard (search/popular.py);
    this keeps out what needs no statistics to recognise."""
    text = query.strip()
    if not 2 <= len(text) <= MAX_CHARS or "@" in text:
        return False
    digits = len(_DIGIT.findall(text))
    rest = len("".join(text.split())) - digits
    return not (digits >= LONG_NUMBER_DIGITS and digits > rest)


def phrase_key(text: str) -> str:
    """The suggest index's normalised form of a text (its tokens joined as the index joins them)."""
    return join_tokens(tokenize(text, segment=False))[0]


def merge(catalogue: Sequence[Suggestion], popular: Sequence[Suggestion], k: int) -> list[Suggestion]:
    """The best k of both lists, one per normalised text (see the module docstring).

    Each list is its index's own top k, which is enough: an entry cut from one list had k better ones
    there, all of which still rank above it here."""
    merged: dict[str, Suggestion] = {}
    for s in catalogue:
        merged.setdefault(phrase_key(s.text), s)
    for s in popular:
        key = phrase_key(s.text)
        other = merged.get(key)
        if other is None:
            merged[key] = s
            continue
        better = s if (other.fuzzy, -other.score) > (s.fuzzy, -s.score) else other
        merged[key] = Suggestion(other.text, better.kind, better.score, better.fuzzy)
    ordered = sorted(merged.items(), key=lambda ks: (ks[1].fuzzy, -ks[1].score, ks[0]))
    return [s for _, s in ordered[:k]]
