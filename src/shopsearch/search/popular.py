"""The shop's popular searches, held in memory for suggestions (Engine.suggest).

Which queries: over the last `days` (30) of the search log, a query (as logged: folded) that was
searched with results at least `min_searches` (2) times, at least `min_clicked` (1) of those
searches with a click, and that text.suggest.popular.suggestible accepts (no e-mail address, not a
long number, at most 60 characters). The MAX_QUERIES with the most clicked searches are kept. One
search is noise, and a click says the query found what a shopper wanted: a typo that found nothing
good, or text nobody else would type, rarely gets one.

Freshness: the queries live in a SuggestIndex of their own (each weighted by its clicked searches),
built from one SQL statement and swapped in whole. `current()`, on every suggestion, returns that
snapshot and, once it is REFRESH_S old, starts a background thread to build the next: a suggestion
never waits for SQL, at the price of a snapshot up to REFRESH_S (plus one refresh) old. Nothing runs
until the first suggestion (or `refresh`), so a command that never suggests never reads the log.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Callable

from ..text.suggest import SuggestIndex
from ..text.suggest.popular import suggestible

if TYPE_CHECKING:
    from ..behaviour import EventStore

log = logging.getLogger(__name__)

MAX_QUERIES = 5000  # a SuggestIndex of 5,000 queries is a few MB and builds in a fraction of a second
REFRESH_S = 300.0
DAY = 86_400.0


class PopularQueries:
    """A snapshot of the popular queries, refreshed in the background (see the module docstring)."""

    def __init__(self, source: Callable[[], EventStore | None], days: float = 30.0, min_searches: int = 2,
                 min_clicked: int = 1, limit: int = MAX_QUERIES, refresh_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.time) -> None:
        """source: the search log, or None where there is none (then nothing is suggested); days 0: off."""
        if not (math.isfinite(days) and days >= 0):
            raise ValueError(f"days must be a finite number >= 0 (0: off), not {days!r}")
        if min_searches < 1 or min_clicked < 0 or limit < 1:
            raise ValueError(f"need min_searches >= 1, min_clicked >= 0, limit >= 1; got {min_searches}, {min_clicked}, {limit}")
        if not refresh_s > 0:
            raise ValueError(f"refresh_s must be > 0, not {refresh_s!r}")
        self.source = source
        self.days, self.min_searches, self.min_clicked, self.limit = days, min_searches, min_clicked, limit
        self.refresh_s = refresh_s
        self.clock = clock
        self._index: SuggestIndex | None = None
        self._started = -math.inf  # time.monotonic() of the last refresh's start
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def enabled(self) -> bool:
        return self.days > 0

    def current(self) -> SuggestIndex | None:
        """The snapshot (None until a first refresh finished); starts a background refresh when it is stale."""
        if self.enabled and self._stale():
            self.refresh(wait=False, if_stale=True)
        return self._index

    def refresh(self, wait: bool = True, if_stale: bool = False) -> None:
        """Read the log and replace the snapshot, now (wait) or on a background thread (one at a time)."""
        if not self.enabled:
            return
        with self._lock:
            if self._closed:
                return
            running = self._thread is not None and self._thread.is_alive()
            if not running and (not if_stale or self._stale()):  # another caller may have just started one
                self._started = time.monotonic()
                self._thread = threading.Thread(target=self._run, name="popular-queries", daemon=True)
                self._thread.start()
            thread = self._thread
        if wait and thread is not None:
            thread.join()

    def _stale(self) -> bool:
        return time.monotonic() - self._started >= self.refresh_s

    def close(self) -> None:
        """Wait for a refresh in flight (it reads the log, which closes next) and start no other."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            index = self._build()
        except Exception as exc:  # the log closed under it, a locked file: the last snapshot stays
            log.warning("popular queries not refreshed: %s", exc)
            return
        if not self._closed:
            self._index = index

    def _build(self) -> SuggestIndex | None:
        store = self.source()
        if store is None:
            return None
        rows = store.popular_queries(self.clock() - self.days * DAY, None, self.min_searches, self.min_clicked, self.limit)
        index = SuggestIndex()
        for query, _, clicked in rows:
            if suggestible(query):
                # min_clicked 0 admits queries nobody clicked: they still need a weight > 0.
                index.add(query, "query", float(max(clicked, 0.5)))
        index.warm()
        return index
