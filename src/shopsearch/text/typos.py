"""Typo correction of query words against the catalogue's own vocabulary.

The vocabulary is the catalogue's words with their document frequency, kept
current as items are written (``add``/``remove``), so a correction always
points at a word some product really has: a general-language dictionary would
"correct" brand names and product jargon into English.

Candidate generation is SymSpell (symmetric deletes, via ``symspellpy``):
every vocabulary word stores its deletes of up to two characters, taken from
its first seven characters only (``prefix_length=7``, which bounds the deletes
per word at 1 + 7 + 21 whatever the word's length and keeps memory down); a
lookup generates the query word's deletes and meets them in that table, then
checks the real distance. The distance is Damerau's optimal string alignment
(a transposition is one edit), symspellpy's default.

Policy (pure functions below, so it can be tested without a vocabulary):

- only words made of letters are corrected (Latin, Greek or Cyrillic, after
  case and accent folding): numbers, SKUs and model codes ("dv7-1211ea",
  "rtx2060", "350ml", "usb-c") are not misspelt words, and their neighbours
  are other real codes;
- fewer than 5 letters: never (too many real words are one edit apart);
  5-8 letters: one edit; 9 and more: two;
- a word the vocabulary has is corrected only when a neighbour within that
  distance is far more frequent (``rarer_ratio`` times, 50 by default): the
  catalogue's own rare spellings are usually typos of its common words, but
  two ordinary words one edit apart ("cable", "table") are both left alone;
- the best neighbour is the closest, then the most frequent, then the first
  alphabetically, so the answer does not depend on insertion order.

Only letter words of 4+ letters go into the SymSpell table: shorter words and
codes are never a correction's target (a 5-letter word is at most one edit
from a 4-letter one), so storing their deletes would cost memory for nothing;
``count`` and ``len`` still cover every word added.

Cost (benchmarks/bench_suggest.py, 50,000 real English words): about 90 MiB,
almost all of it symspellpy's delete table (~460k keys, each with a list), built
at ~30 us a word; a miss is corrected in ~20-30 us at the median. A word the
vocabulary has costs more when it is rare (its neighbours have to be checked
for being far more frequent): ~50 us at the median, up to ~1 ms for long words
that share their first seven letters with many others ("interfacing"), since
symspellpy computes each candidate's distance in pure Python.

Thread safety: one lock around mutation and lookup. symspellpy's lookup walks
lists that ``delete_dictionary_entry`` edits in place, so a lookup racing a
removal could read a word that is gone; a lookup takes tens of microseconds,
so readers queueing on the lock cost little next to a search.
"""

from __future__ import annotations

import re
import threading

from symspellpy import SymSpell, Verbosity

from .analyzer import fold_accents, normalize

__all__ = ["TypoCorrector", "is_correctable", "is_letter_word", "max_edits"]

# Latin (with Latin-1, Extended-A/B and Extended Additional), Greek (with
# Extended) and Cyrillic (with Supplement). Within these blocks only letters
# count: str.isalpha() below drops signs such as U+00D7 (multiplication).
_LETTER_WORD = re.compile("[a-zA-Z\u00c0-\u024f\u1e00-\u1eff\u0370-\u03ff\u1f00-\u1fff\u0400-\u052f]+")

_PREFIX_LENGTH = 7
_MAX_DISTANCE = 2
# A word this short can never be the target of a correction: the shortest
# correctable word has 5 letters and is at most one edit from its target.
_MIN_TARGET_LENGTH = 4


def is_letter_word(word: str) -> bool:
    """True when every character is a letter of the Latin, Greek or Cyrillic script."""
    return bool(word) and word.isalpha() and _LETTER_WORD.fullmatch(word) is not None


def max_edits(word: str) -> int:
    """The edit distance a (normalised) word may be corrected by: 0 = never."""
    if not is_letter_word(word):
        return 0
    n = len(word)
    if n < 5:
        return 0
    return 1 if n <= 8 else 2


def is_correctable(word: str) -> bool:
    """Whether the policy allows correcting this (normalised) word at all."""
    return max_edits(word) > 0


def _prefix_deletes(word: str) -> set[str]:
    """The delete keys SymSpell files a word under (its prefix, minus up to two characters).

    Used only to drop the keys that a removal leaves with an empty list:
    symspellpy removes the word from each list but keeps the emptied keys."""
    key = word[:_PREFIX_LENGTH]
    out = {key}
    frontier = {key}
    for _ in range(_MAX_DISTANCE):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


class TypoCorrector:
    """A SymSpell corrector over the catalogue's vocabulary; see the module docstring."""

    def __init__(self, rarer_ratio: float = 50.0) -> None:
        if not rarer_ratio >= 1.0:
            raise ValueError(f"rarer_ratio must be >= 1, got {rarer_ratio!r}")
        self.rarer_ratio = float(rarer_ratio)
        self._counts: dict[str, int] = {}
        self._symspell = SymSpell(max_dictionary_edit_distance=_MAX_DISTANCE, prefix_length=_PREFIX_LENGTH)
        # An upper bound on any word's count (not lowered on removals): a word
        # with count * ratio above it cannot be far rarer than anything, which
        # spares the full neighbour search for the common words of most queries.
        self._max_count = 0
        self._lock = threading.Lock()

    def add(self, word: str, count: int = 1) -> None:
        """Count ``word`` (already normalised: case- and accent-folded) ``count`` more times."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        if not word:
            return
        with self._lock:
            new = self._counts.get(word, 0) + count
            self._counts[word] = new
            if new > self._max_count:
                self._max_count = new
            if new == count and len(word) >= _MIN_TARGET_LENGTH and is_letter_word(word):
                # SymSpell's own counts are not used (ours rank the candidates),
                # so it only needs to hear of a word once.
                self._symspell.create_dictionary_entry(word, 1)

    def remove(self, word: str, count: int = 1) -> None:
        """Count ``word`` ``count`` fewer times; at 0 it leaves the vocabulary. Unknown words are ignored."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        with self._lock:
            old = self._counts.get(word)
            if old is None:
                return
            if old > count:
                self._counts[word] = old - count
                return
            del self._counts[word]
            if self._symspell.delete_dictionary_entry(word):
                deletes = self._symspell.deletes
                for key in _prefix_deletes(word):
                    if key in deletes and not deletes[key]:
                        del deletes[key]

    def counts(self) -> dict[str, int]:
        """Every word with how many products use it (a copy)."""
        with self._lock:
            return dict(self._counts)

    def count(self, word: str) -> int:
        """The word's count (0 when it is not in the vocabulary)."""
        return self._counts.get(word, 0)

    def __len__(self) -> int:
        return len(self._counts)

    def __contains__(self, word: object) -> bool:
        return word in self._counts

    def correct(self, word: str) -> str | None:
        """The vocabulary word ``word`` is probably a typo of, or None to leave it as it is.

        ``word`` is normalised (NFKC, case and accent folding) first; the answer
        is in the vocabulary's form."""
        word = fold_accents(normalize(word))
        distance = max_edits(word)
        if distance == 0:
            return None
        with self._lock:
            own = self._counts.get(word, 0)
            if not own:
                # Every neighbour qualifies, so the closest ones hold the answer.
                return self._best(self._symspell.lookup(word, Verbosity.CLOSEST, max_edit_distance=distance), word, 0.0)
            needed = own * self.rarer_ratio
            if needed > self._max_count:
                return None
            # symspellpy answers a word it has with that word alone unless asked
            # for every neighbour (Verbosity.ALL), which explores all candidates up
            # to the full distance: ~1 ms for long words. Hidden from its word
            # table for the call, the word gets the closest neighbours, pruned as
            # for a miss; only when those are all too rare and farther ones could
            # still qualify is the full search needed.
            words = self._symspell.words
            hidden = words.pop(word, None)
            try:
                closest = self._symspell.lookup(word, Verbosity.CLOSEST, max_edit_distance=distance)
            finally:
                if hidden is not None:
                    words[word] = hidden
            best = self._best(closest, word, needed)
            if best is not None or not closest or closest[0].distance >= distance:
                return best
            return self._best(self._symspell.lookup(word, Verbosity.ALL, max_edit_distance=distance), word, needed)

    def _best(self, items: list, word: str, needed: float) -> str | None:
        """The closest, then most frequent, then alphabetically first item counted at least ``needed``."""
        counts = self._counts
        best: tuple[int, int, str] | None = None
        for item in items:
            term = item.term
            if term == word:
                continue
            c = counts.get(term, 0)
            if c == 0 or c < needed:
                continue
            candidate = (item.distance, -c, term)
            if best is None or candidate < best:
                best = candidate
        return None if best is None else best[2]
