"""Server settings: one frozen dataclass, overridable by SHOPSEARCH_SERVE__<FIELD> and CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import ENV_PREFIX, Truncation, Validated, _override, _require


@dataclass(frozen=True)
class ServeSettings(Validated):
    host: str = "127.0.0.1"
    port: int = 8000
    # Key entries `KEY [search|admin] [rate=N/s] [name=NAME]` (serve/auth.py; a bare KEY is an admin key).
    # Empty: no authentication (a warning is logged).
    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    # Limits: each refusal is a 400/413 in the OpenAI error shape.
    max_body_bytes: int = 8 * 1024 * 1024
    max_inputs: int = 2048  # texts per /v1/embeddings request
    max_documents: int = 1000  # documents per /v1/rerank request
    max_items: int = 1000  # items per catalogue write
    max_query_chars: int = 1000
    max_input_tokens: int = 8192
    token_policy: Truncation = "truncate"  # for inputs longer than max_input_tokens (or the model's max_tokens)
    # Micro-batching of embedding requests across clients.
    # Texts per model call; 0 takes the model's own hint (`serving_batch`), else 64. On CPU,
    # small batches on two overlapping calls beat big ones: batching adds no throughput to a
    # compute-bound model, only waiting (bench_serve.py: batch 4 x 2 calls, p99 -30%).
    max_batch: int = 0
    max_wait_ms: float = 0.0  # linger for company; 0 = continuous batching (measured faster, bench_serve.py)
    max_queue: int = 4096  # texts waiting; beyond it requests get 429 + Retry-After
    # API requests in the server at once, served or waiting; beyond it 429 + Retry-After (0: no limit).
    # Of them, at most max_running are served at once (0: no limit); the rest wait without a thread.
    # At twice the searches one core answers, admitted p99 stayed near 0.5 s against 7.5 s and
    # growing without these limits (bench_overload.py; docs/benchmarks.md).
    max_in_flight: int = 64
    max_running: int = 16
    cache: str = "memory"  # memory | none | redis://host:port/db
    cache_entries: int = 10_000
    # The memory cache's values, at most (the least recently used go first): 10,000 Icecat answers at
    # k=24 took ~300 MB, which the soak (bench_soak.py) saw as RSS growing for its first ten minutes.
    cache_max_bytes: int = 64 * 1024 * 1024
    cache_ttl_s: int = 3600
    graceful_shutdown_s: int = 30
    snapshot_dir: str = ""  # where POST /v1/snapshots writes (a snapshot per name); empty: the route refuses
    judgments_dir: str = ""  # judgments files the web page's Evaluation tab may pick (uploads work without)
    log_searches: bool = True  # the search log (events.sqlite in the data directory) that events refer to
    # glibc malloc arenas for the server's threads (serve/memory.py); 0 keeps glibc's default (8 per core),
    # which let RSS grow +34% over a 30-minute soak. MALLOC_ARENA_MAX in the environment wins.
    malloc_arenas: int = 2

    def _check(self) -> None:
        for name in ("max_in_flight", "max_running", "cache_max_bytes", "malloc_arenas"):
            _require(getattr(self, name) >= 0, f"{name} must not be negative (0: no limit), got {getattr(self, name)}")

    @classmethod
    def from_env(cls, environ=None) -> "ServeSettings":
        return _override(cls(), ENV_PREFIX + "SERVE__", os.environ if environ is None else environ)


def read_api_keys(path: Path | None, environ=None) -> tuple[str, ...]:
    """Key entries from SHOPSEARCH_API_KEYS (comma-separated) and/or a file (one per line, # comments)."""
    env = os.environ if environ is None else environ
    keys = [k.strip() for k in env.get("SHOPSEARCH_API_KEYS", "").split(",") if k.strip()]
    if path is not None:
        keys += [line.strip() for line in Path(path).read_text().splitlines() if line.strip() and not line.startswith("#")]
    return tuple(dict.fromkeys(keys))
