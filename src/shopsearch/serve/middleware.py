"""The server's plain-ASGI middleware, outermost first: admission (Admission), body size (BodyLimit),
requests and latency per route (Measure). Plain ASGI: Starlette's BaseHTTPMiddleware runs each request
through an extra task and memory stream, a cost every embeddings request paid."""

from __future__ import annotations

import asyncio
import time

from . import errors
from .metrics import Metrics


class Measure:
    """Requests and latency per route. Plain ASGI: Starlette's BaseHTTPMiddleware runs each request
    through an extra task and memory stream, a cost every embeddings request paid."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")  # the router fills in scope["route"]
            self.metrics.requests.labels(name, str(status)).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)


class BodyLimit:
    """Refuse bodies over max_bytes (413) whether or not they declare a Content-Length."""

    def __init__(self, app, max_bytes: int, metrics: Metrics) -> None:
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        if declared is not None or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return await self.app(scope, receive, send)
        # No declared length (chunked): read it all first, up to the limit, then replay it.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, receive, send)
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await self._refuse(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        self.metrics.rejected.labels("body_too_large").inc()
        response = errors.error_response(413, f"request body over the {self.max_bytes}-byte limit", None, "body_too_large")
        await response(scope, receive, send)


class Admission:
    """At most `limit` API requests (/v1/...) in the server, of which at most `running` are being served
    and the rest wait here, on the event loop, without a thread. Past `limit`, a 429 with Retry-After
    at once, as Elasticsearch's bounded search queue refuses. Without a bound, load above capacity
    queues in the thread pool and every answer grows late; and dozens of threads running Python at
    once share one interpreter lock with the event loop, which then answers even refusals late
    (bench_overload.py). Health, readiness and metrics are never refused or queued."""

    def __init__(self, app, limit: int, running: int, metrics: Metrics) -> None:
        self.app, self.limit, self.metrics = app, limit, metrics
        self.in_flight = 0  # only the event loop's thread changes it
        self._running = asyncio.Semaphore(running) if running else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        if self.limit and self.in_flight >= self.limit:
            self.metrics.rejected.labels("overloaded").inc()
            response = errors.error_response(429, f"the server is at its limit of {self.limit} requests in flight; "
                                             "retry shortly", None, "overloaded", {"Retry-After": "1"})
            return await response(scope, receive, send)
        self.in_flight += 1
        self.metrics.in_flight.set(self.in_flight)
        try:
            if self._running is None:
                await self.app(scope, receive, send)
            else:
                async with self._running:
                    await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.set(self.in_flight)
