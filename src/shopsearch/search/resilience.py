"""Timeouts and circuit breakers around model calls, so a slow or dead model degrades search instead of failing it."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

# The caller's own mistakes (an input too long for the model, a size it cannot give): they say
# nothing about the model's health, so they reach the caller as they are and never count
# towards opening the breaker.
CALLER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError)


class ModelCallFailed(RuntimeError):
    """The model call failed, timed out, or was not made because the breaker is open."""


class CircuitBreaker:
    """Closed: calls go through. After `threshold` consecutive failures it opens for
    `cooldown_s`: calls fail at once. Then one trial call is let through (half-open):
    success closes it, failure opens it again.

    A call with a timeout runs on the breaker's own threads, so that the caller can stop
    waiting; a call that times out still finishes in the background (Python cannot kill a
    thread), which is why the breaker stops sending new calls to a model that keeps timing
    out. Each breaker has its own threads: a slow reranker cannot hold up query embedding."""

    def __init__(self, name: str, threshold: int = 3, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 max_calls: int = 64):
        self.name = name
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._max_calls = max_calls
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self.cooldown_s else "open"

    def _threads(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self._max_calls, thread_name_prefix=f"shopsearch-{self.name}")
            return self._pool

    def call(self, fn: Callable[[], T], timeout_s: float | None, times_itself: bool = False) -> T:
        """fn's answer, or ModelCallFailed. times_itself: fn gives up after timeout_s on its own, raising
        TimeoutError (the server's batcher waits on a future so), so it runs in the caller's thread,
        sparing the hop to the breaker's threads."""
        with self._lock:
            if self._opened_at is not None:
                waited = self._clock() - self._opened_at
                if waited < self.cooldown_s or self._trial_running:
                    raise ModelCallFailed(f"{self.name} circuit open after {self._failures} failures "
                                          f"(retrying in {max(self.cooldown_s - waited, 0):.0f}s)")
                self._trial_running = True
        try:
            inline = not timeout_s or times_itself
            result = fn() if inline else self._threads().submit(fn).result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            self._failed()
            raise ModelCallFailed(f"{self.name} timed out after {timeout_s:g}s") from None
        except CALLER_ERRORS:
            self._settled()
            raise
        except Exception as exc:
            self._failed()
            raise ModelCallFailed(f"{self.name} failed: {exc}") from exc
        with self._lock:
            self._failures, self._opened_at, self._trial_running = 0, None, False
        return result

    def _settled(self) -> None:
        """A call that ended by the caller's fault says nothing of the model: the count stays, and a
        half-open breaker lets the next call be its trial."""
        with self._lock:
            self._trial_running = False

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_running = False
            if self._failures >= self.threshold:
                self._opened_at = self._clock()
