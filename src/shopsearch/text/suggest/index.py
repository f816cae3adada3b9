"""The suggestible phrases in one sorted list, their counts, and the cached top lists of busy prefixes.

See "Phrases" (memory), "Matching" and "Speed" in the package docstring."""

from __future__ import annotations

import heapq
import math
import threading

from sortedcontainers import SortedList

from ..typos import TypoCorrector
from .entries import KIND_INDEX, KINDS, TITLE, WHOLE_KINDS, Entry, Suggestion
from .fuzzy import corrected_words, one_edit_prefixes
from .phrases import HIGHEST_CHAR, SUFFIX_SEP, Token, display_form, join_tokens, title_phrases, tokenize
from .ranking import Rank, TopList, best_ranks

MAX_K = 100
# Ranges up to this many sorted-list entries are scanned on each request
# (about 0.3 us an entry); larger ones are cached.
_SCAN_LIMIT = 600
# Cached lists keep more than asked for, so that entries falling out of them
# on writes rarely force a recomputation.
_MIN_DEPTH = 32

# Entries a write changed -> their rank and sorted-list elements before it.
_Touched = dict[str, tuple[Rank | None, tuple[str, ...]]]


class SuggestIndex:
    """Prefix- and typo-tolerant completions, kept current on writes; see the package docstring."""

    def __init__(self, corrector: TypoCorrector | None = None, singleton_limit: int = 100_000) -> None:
        self.corrector = corrector
        self.singleton_limit = singleton_limit
        self._entries: dict[str, Entry] = {}
        # Every title phrase's number of values (admitted or not).
        self._title_counts: dict[str, int] = {}
        self._min_title_count = 1
        self._sorted: SortedList = SortedList()
        self._cache: dict[str, TopList] = {}
        self._cache_maxlen = 0
        self._lock = threading.Lock()

    # -- writes --------------------------------------------------------------

    def add(self, text: str, kind: str, weight: float = 1.0) -> None:
        """Index one value: a product's title, brand or category, or a popular query."""
        k = self._check(kind, weight)
        # Tokenising (jieba for CJK) needs no lock; readers wait only for the bookkeeping.
        phrases = title_phrases(text) if k == TITLE else None
        tokens = tokenize(text, segment=True) if k != TITLE else []
        with self._lock:
            touched: _Touched = {}
            if phrases is not None:
                for key, form in phrases.items():
                    self._add_title(key, form, weight, touched)
                if self._min_title_count == 1 and len(self._title_counts) > self.singleton_limit:
                    self._drop_singletons()
                    touched.clear()
            elif tokens:
                self._add_whole(tokens, display_form(text), k, weight, touched)
            self._settle(touched)

    def remove(self, text: str, kind: str, weight: float = 1.0) -> None:
        """Take back a value given to add (a product's old title on update or delete).

        Phrases no other value carries disappear; values never added are ignored."""
        k = self._check(kind, weight)
        phrases = title_phrases(text) if k == TITLE else None
        # The key alone is needed here, and CJK segments join with nothing: no jieba.
        tokens = tokenize(text, segment=False) if k != TITLE else []
        with self._lock:
            touched: _Touched = {}
            if phrases is not None:
                for key, form in phrases.items():
                    self._remove_title(key, form, weight, touched)
            elif tokens:
                self._remove_whole(tokens, display_form(text), k, weight, touched)
            self._settle(touched)

    @staticmethod
    def _check(kind: str, weight: float) -> int:
        k = KIND_INDEX.get(kind)
        if k is None:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        try:
            usable = isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0
        except OverflowError:  # an int no float can hold
            usable = False
        if not usable:
            raise ValueError(f"weight must be a finite number > 0; got {weight!r}")
        return k

    def _touch(self, key: str, touched: _Touched) -> Entry | None:
        entry = self._entries.get(key)
        # Only the cached top lists need to know what changed.
        if self._cache and key not in touched:
            touched[key] = (entry.rank(), entry.elements()) if entry is not None else (None, ())
        return entry

    def _create(self, key: str, display: str) -> Entry:
        entry = Entry(key, display)
        self._entries[key] = entry
        self._sorted.add(key)
        return entry

    def _add_title(self, key: str, form: str, weight: float, touched: _Touched) -> None:
        count = self._title_counts.get(key, 0) + 1
        self._title_counts[key] = count
        if count < self._min_title_count:
            return
        entry = self._touch(key, touched)
        if entry is None:
            entry = self._create(key, form)
        if entry.counts[TITLE] == 0:
            # Admitted now: the earlier values carrying it kept no weight.
            entry.counts[TITLE] = count
            entry.weights[TITLE] = weight * count
            entry.add_form(form, count)
        else:
            entry.counts[TITLE] += 1
            entry.weights[TITLE] += weight
            entry.add_form(form)
        entry.rescore()

    def _remove_title(self, key: str, form: str, weight: float, touched: _Touched) -> None:
        count = self._title_counts.get(key)
        if count is None:
            return
        if count > 1:
            self._title_counts[key] = count - 1
        else:
            del self._title_counts[key]
        entry = self._touch(key, touched)
        if entry is None or entry.counts[TITLE] == 0:
            return
        if count - 1 < self._min_title_count:
            entry.counts[TITLE] = 0
            entry.weights[TITLE] = 0.0
        else:
            entry.counts[TITLE] -= 1
            entry.weights[TITLE] = max(0.0, entry.weights[TITLE] - weight)
        entry.remove_form(form)
        self._retire_or_rescore(entry)

    def _add_whole(self, tokens: list[Token], form: str, k: int, weight: float, touched: _Touched) -> None:
        key, starts = join_tokens(tokens)
        entry = self._touch(key, touched)
        if entry is None:
            entry = self._create(key, form)
        entry.counts[k] += 1
        entry.weights[k] += weight
        entry.add_form(form)
        if not entry.suffixed:
            entry.starts = starts
            entry.suffixed = True
            self._sorted.update(entry.elements()[1:])
        entry.rescore()

    def _remove_whole(self, tokens: list[Token], form: str, k: int, weight: float, touched: _Touched) -> None:
        key, _ = join_tokens(tokens)
        entry = self._touch(key, touched)
        if entry is None or entry.counts[k] == 0:
            return
        entry.counts[k] -= 1
        entry.weights[k] = 0.0 if entry.counts[k] == 0 else max(0.0, entry.weights[k] - weight)
        entry.remove_form(form)
        if entry.suffixed and not any(entry.counts[i] for i in WHOLE_KINDS):
            for element in entry.elements()[1:]:
                self._sorted.remove(element)
            entry.suffixed = False
            entry.starts = ()
        self._retire_or_rescore(entry)

    def _retire_or_rescore(self, entry: Entry) -> None:
        if any(entry.counts):
            entry.rescore()
            return
        for element in entry.elements():
            self._sorted.remove(element)
        del self._entries[entry.key]

    def _drop_singletons(self) -> None:
        """The index got large: title phrases of a single value stop being suggestible."""
        self._min_title_count = 2
        for key, count in self._title_counts.items():
            if count >= 2:
                continue
            entry = self._entries.get(key)
            if entry is None or entry.counts[TITLE] == 0:
                continue
            entry.counts[TITLE] = 0
            entry.weights[TITLE] = 0.0
            self._retire_or_rescore(entry)
        self._cache.clear()
        self._cache_maxlen = 0

    def _settle(self, touched: _Touched) -> None:
        """Bring the cached top lists up to date with the entries a write changed."""
        if not self._cache:
            return
        cache = self._cache
        maxlen = self._cache_maxlen
        for key, (old_rank, old_elements) in touched.items():
            entry = self._entries.get(key)
            new_rank = entry.rank() if entry is not None else None
            new_elements = entry.elements() if entry is not None else ()
            if new_rank == old_rank and new_elements == old_elements:
                continue
            prefixes: set[str] = set()
            for element in (*old_elements, *new_elements):
                end = min(len(element), maxlen)
                sep = element.find(SUFFIX_SEP)
                if sep >= 0:
                    end = min(end, sep + 1)
                for i in range(1, end + 1):
                    p = element[:i]
                    if p in cache:
                        prefixes.add(p)
            for p in prefixes:
                matches = new_rank is not None and any(e.startswith(p) for e in new_elements)
                cache[p].update(key, new_rank if matches else None)

    # -- reads ---------------------------------------------------------------

    def __len__(self) -> int:
        """Distinct suggestible phrases."""
        return len(self._entries)

    def complete(self, prefix: str, k: int = 8) -> list[Suggestion]:
        """Up to ``k`` completions of ``prefix``, exact ones first; [] for an empty prefix."""
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"k must be an integer from 1 to {MAX_K}; got {k!r}")
        tokens = tokenize(prefix, segment=False)
        if not tokens:
            return []
        closed = prefix[-1:].isspace() and not tokens[-1].cjk
        with self._lock:
            exact = self._complete(tokens, closed, k)
            out = [self._suggestion(key, False) for _, key in exact]
            if len(out) < k:
                seen = {key for _, key in exact}
                fuzzy = [item for item in self._fuzzy(tokens, closed, k, bool(exact)) if item[1] not in seen]
                out.extend(self._suggestion(key, True) for _, key in fuzzy[: k - len(out)])
        return out

    def _suggestion(self, key: str, fuzzy: bool) -> Suggestion:
        entry = self._entries[key]
        return Suggestion(entry.display, entry.kind(), entry.score, fuzzy)

    def _complete(self, tokens: list[Token], closed: bool, k: int) -> list[Rank]:
        q, _ = join_tokens(tokens)
        if not closed:
            return self._top(q, k)
        # "laptop " -> the phrase "laptop" itself, whole values with a word
        # "laptop" at their end ("laptop\0gaming laptop"), and "laptop ...".
        merged = self._top(q + " ", k)
        entry = self._entries.get(q)
        if entry is not None:
            merged.append(entry.rank())
        merged.extend(self._top(q + SUFFIX_SEP, k))
        return best_ranks(merged, k)

    def _range(self, p: str) -> tuple[int, int]:
        return self._sorted.bisect_left(p), self._sorted.bisect_left(p + HIGHEST_CHAR)

    def _scan(self, lo: int, hi: int, limit: int) -> list[Rank]:
        entries = self._entries
        scores: dict[str, float] = {}
        for element in self._sorted.islice(lo, hi):
            sep = element.find(SUFFIX_SEP)
            key = element if sep < 0 else element[sep + 1 :]
            scores[key] = entries[key].score
        return heapq.nsmallest(limit, ((-score, key) for key, score in scores.items()))

    def _top(self, p: str, k: int) -> list[Rank]:
        lo, hi = self._range(p)
        if hi - lo <= _SCAN_LIMIT:
            return self._scan(lo, hi, k)
        top = self._cache.get(p)
        if top is None or (top.floor is not None and len(top.items) < k):
            top = self._compute_top(p, lo, hi, max(_MIN_DEPTH, 2 * k))
        return top.items[:k]

    def _compute_top(self, p: str, lo: int, hi: int, depth: int) -> TopList:
        items = self._scan(lo, hi, depth + 1)
        floor = items[depth] if len(items) > depth else None
        top = TopList(items[:depth], floor, depth)
        self._cache[p] = top
        self._cache_maxlen = max(self._cache_maxlen, len(p))
        return top

    def _fuzzy(self, tokens: list[Token], closed: bool, k: int, have_exact: bool) -> list[Rank]:
        found: list[Rank] = []
        words = tokens
        if self.corrector is not None:
            corrected = corrected_words(tokens, closed, have_exact, self.corrector)
            if corrected is not None:
                found.extend(self._complete(corrected, closed, k))
                words = corrected
        if not have_exact and not closed:
            for p in one_edit_prefixes(self._sorted, words[:-1], tokens[-1]):
                found.extend(self._top(p, k))
        return best_ranks(found, k)

    def warm(self, max_prefix: int = 3) -> int:
        """Cache the top completions of every 1..max_prefix character prefix with a large range.

        One pass over the index per length; returns the number of lists cached.
        Call it after a bulk load (queries otherwise compute them on first use)."""
        cached = 0
        with self._lock:
            sorted_ = self._sorted
            for length in range(1, max_prefix + 1):
                i, n = 0, len(sorted_)
                while i < n:
                    element = sorted_[i]
                    p = element[:length]
                    if len(p) < length or SUFFIX_SEP in p:
                        i += 1
                        continue
                    hi = sorted_.bisect_left(p + HIGHEST_CHAR)
                    if hi - i > _SCAN_LIMIT and p not in self._cache:
                        self._compute_top(p, i, hi, _MIN_DEPTH)
                        cached += 1
                    i = hi
        return cached
