"""Result caches for search answers and embeddings: in-process LRU by default, Redis when asked.

Keys are made from the normalised request plus the index version (the
catalogue's last write sequence), so a write makes every older search entry
unreachable: invalidation without scanning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

log = logging.getLogger(__name__)

OnError = Callable[[str, Exception], None]  # (operation, exception): counted in shopsearch_cache_errors_total


def cache_key(namespace: str, payload: Any) -> str:
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"shopsearch:{namespace}:{hashlib.sha256(body.encode()).hexdigest()}"


class MemoryCache:
    """Least recently used entries go first, past `entries` entries or past `max_bytes` of values: answers
    differ in size by tens of times (k, long descriptions), so a count alone does not bound the memory."""

    kind = "memory"

    def __init__(self, entries: int, max_bytes: int = 0) -> None:
        self._entries, self._max_bytes = entries, max_bytes
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            old = self._data.get(key)
            self._bytes += len(value) - (len(old) if old is not None else 0)
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._entries or (self._max_bytes and self._bytes > self._max_bytes and len(self._data) > 1):
                _, dropped = self._data.popitem(last=False)
                self._bytes -= len(dropped)

    def close(self) -> None:
        pass


class RedisCache:
    """A cache outage must not fail searches: a failed get is a miss and a failed set is skipped,
    each counted (on_error) and logged, at most once every `log_every_s` seconds."""

    kind = "redis"

    def __init__(self, url: str, ttl_s: int, on_error: OnError | None = None, log_every_s: float = 10.0) -> None:
        try:
            import redis
        except ImportError as exc:
            raise RuntimeError("a Redis cache needs: pip install 'shopsearch[redis]'") from exc
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=1.0)
        self._client.ping()  # fail at start, not on the first request
        self._ttl = ttl_s
        self._url = url
        self._on_error = on_error
        self._log_every_s = log_every_s
        self._logged_at = -float("inf")

    def get(self, key: str) -> bytes | None:
        try:
            # redis types get() as bytes | str (str with decode_responses=True, which this client leaves off).
            return self._client.get(key)  # type: ignore[return-value]
        except Exception as exc:
            self._failed("get", exc)
            return None

    def set(self, key: str, value: bytes) -> None:
        try:
            self._client.set(key, value, ex=self._ttl)
        except Exception as exc:
            self._failed("set", exc)

    def _failed(self, operation: str, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(operation, exc)
        now = time.monotonic()
        if now - self._logged_at >= self._log_every_s:
            self._logged_at = now
            log.warning("Redis cache %s failed at %s, answering without the cache: %s: %s", operation, self._url,
                        type(exc).__name__, exc)

    def close(self) -> None:
        self._client.close()


class NoCache:
    kind = "none"

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def make_cache(spec: str, entries: int, ttl_s: int, on_error: OnError | None = None, max_bytes: int = 0):
    if spec in ("", "memory"):
        return MemoryCache(entries, max_bytes)
    if spec == "none":
        return NoCache()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache(spec, ttl_s, on_error)
    raise ValueError(f"--cache must be memory, none or redis://HOST:PORT/DB, got {spec!r}")
