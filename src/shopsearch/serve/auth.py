"""Who may call what: API keys, the scope each carries, and its rate limit.

A shop's front end (the shopper's browser, the shop's web server) sends searches, suggestions and
events with a key anyone can read in the page; the people who run the shop read analytics, train
the ranker, run experiments and edit the catalogue and synonyms. So every route needs a scope and
every key carries one:

- `search`: what a front end sends (search, suggest, events, embeddings, rerank, models, and the
  page's read-only views);
- `admin`: everything.

A key entry is `KEY [SCOPE] [rate=N/s] [name=NAME]` (a key file's line, or one comma-separated item of
SHOPSEARCH_API_KEYS); a bare KEY is an admin key, so key files from before scopes keep working.
`rate=N/s` is a token bucket per key (burst N): beyond it a 429 with Retry-After. NAME (default
`key-<n>`, n the entry's place) is what metrics and logs say, never the key. No keys at all: every
route is open, with a warning at start. A wrong or missing key is a 401; a key without the scope a
route needs is a 403 `insufficient_scope`.
"""

from __future__ import annotations

import hmac
import math
import re
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Sequence

from fastapi import Depends, Header

from .errors import ApiError


class Scope(str, Enum):
    SEARCH = "search"
    ADMIN = "admin"


GRANTS = {Scope.SEARCH: frozenset({Scope.SEARCH}), Scope.ADMIN: frozenset(Scope)}
_RATE = re.compile(r"^rate=(\d+(?:\.\d+)?)/s$")
_NAME = re.compile(r"^name=([A-Za-z0-9_.-]{1,64})$")


class InvalidKeyEntry(ValueError):
    pass


@dataclass(frozen=True)
class ApiKey:
    key: str
    scope: Scope = Scope.ADMIN
    rate: float | None = None  # requests per second (and burst); None: unlimited
    name: str = ""

    def __repr__(self) -> str:  # never the key itself, should one land in a log
        return f"ApiKey(name={self.name!r}, scope={self.scope.value}, rate={self.rate})"


def parse_key_entry(entry: str, place: int) -> ApiKey:
    """`KEY [SCOPE] [rate=N/s] [name=NAME]`, in any order after the key; place names an unnamed key."""
    key, *options = entry.split()
    scope, rate, name = Scope.ADMIN, None, f"key-{place}"
    for option in options:
        if option in (Scope.SEARCH.value, Scope.ADMIN.value):
            scope = Scope(option)
        elif match := _RATE.match(option):
            rate = float(match.group(1))
            if not (math.isfinite(rate) and rate > 0):
                raise InvalidKeyEntry(f"key {name}: rate must be a positive number per second, not {option!r}")
        elif match := _NAME.match(option):
            name = match.group(1)
        else:
            raise InvalidKeyEntry(f"key {name}: {option!r} is not a scope (search, admin), rate=N/s or name=NAME")
    return ApiKey(key, scope, rate, name)


def parse_key_entries(entries: Sequence[str]) -> list[ApiKey]:
    keys = [parse_key_entry(entry, place) for place, entry in enumerate(entries, start=1) if entry.strip()]
    names = [k.name for k in keys]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise InvalidKeyEntry(f"two keys are named {duplicate!r}")
    return keys


class TokenBucket:
    """`rate` tokens per second, at most `rate` held: take() is False once they are spent."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.clock = rate, clock
        self.tokens, self.updated = rate, clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 if a token was taken, else the seconds until one is due."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class Keys:
    """The configured keys, compared in constant time, with their scopes and buckets."""

    def __init__(self, keys: Sequence[ApiKey] = (), on_limited: Callable[[str], None] | None = None) -> None:
        self._keys = [(k.key.encode(), k) for k in keys]
        self._buckets = {k.name: TokenBucket(k.rate) for k in keys if k.rate is not None}
        self._on_limited = on_limited

    @property
    def open(self) -> bool:
        return not self._keys

    def find(self, token: bytes) -> ApiKey | None:
        """The key the token is, None if none. Every key is compared, so timing tells nothing."""
        found = None
        for key, spec in self._keys:
            if hmac.compare_digest(token, key):
                found = spec
        return found

    def describe(self, authorization: str | None) -> dict[str, Any]:
        """What the page may show for this key: {name, scope, rate}; the key itself is never echoed."""
        if self.open:
            return {"name": None, "scope": Scope.ADMIN.value, "rate": None}
        key = self.find(_token(authorization))
        if key is None:
            raise _invalid_key()
        return {"name": key.name, "scope": key.scope.value, "rate": key.rate}

    def require(self, scope: Scope, limit: bool = False) -> Any:
        """A FastAPI dependency refusing requests whose key lacks `scope`; with limit, it also spends
        one of the key's tokens (give limit to one dependency per route, or a request pays twice)."""

        async def check(authorization: str | None = Header(default=None, include_in_schema=False)) -> None:
            if self.open:
                return
            key = self.find(_token(authorization))
            if key is None:
                raise _invalid_key()
            if scope not in GRANTS[key.scope]:
                raise ApiError(403, f"this API key ({key.name}, scope {key.scope.value}) may not call {scope.value} "
                                    "routes; use an admin key", None, "insufficient_scope")
            bucket = self._buckets.get(key.name) if limit else None
            wait = bucket.take() if bucket is not None else 0.0
            if bucket is not None and wait:
                if self._on_limited:
                    self._on_limited(key.name)
                raise ApiError(429, f"rate limit of key {key.name} ({bucket.rate:g}/s) reached; retry after "
                                    f"{wait:.2f} s", None, "rate_limit_exceeded",
                               {"Retry-After": str(max(1, math.ceil(wait)))})

        return Depends(check)


def _token(authorization: str | None) -> bytes:
    bearer = authorization[:7].lower() == "bearer " if authorization else False
    return authorization[7:].strip().encode() if authorization and bearer else b""


def _invalid_key() -> ApiError:
    return ApiError(401, "missing or invalid API key: send Authorization: Bearer <key>", None, "invalid_api_key",
                    {"WWW-Authenticate": "Bearer"})
