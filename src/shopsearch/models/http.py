"""What the remote model clients share: one pooled HTTP client, retries with back-off, clear errors."""

from __future__ import annotations

import random
import time
from typing import Any

from .base import ModelUnavailable

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


class RemoteModelError(ModelUnavailable):
    """The model server refused or failed the request (after retries where retrying made sense)."""


class JsonClient:
    def __init__(self, base_url: str, *, timeout_s: float, retries: int, api_key: str | None = None) -> None:
        import httpx

        self._httpx = httpx
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s, headers=headers)
        self.base_url = base_url
        self.retries = retries

    def post(self, path: str, body: dict[str, Any]) -> Any:
        delay = 0.2
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._client.post(path, json=body)
            except (self._httpx.TransportError, self._httpx.TimeoutException) as exc:
                if last:
                    raise RemoteModelError(f"{self.base_url}{path}: {type(exc).__name__}: {exc}") from exc
            else:
                if response.status_code < 400:
                    return response.json()
                if last or response.status_code not in RETRY_STATUSES:
                    raise RemoteModelError(f"{self.base_url}{path} answered {response.status_code}: {_message(response)}")
                retry_after = response.headers.get("retry-after", "")
                if retry_after.replace(".", "", 1).isdigit():
                    delay = max(delay, min(float(retry_after), 30.0))
            time.sleep(delay * (1 + random.random() * 0.25))  # jitter spreads replicas' retries apart
            delay *= 2
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()


def _message(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)[:200]
        return str(error)[:200]
    return str(body)[:200]
