"""The merchandiser's web page, served at `/` by `shopsearch serve`.

A small page of plain HTML, CSS and JavaScript modules committed as they are
served: no build step, no CDN, nothing to install (the analytics plots are SVG
drawn by the page itself). It calls the same JSON API (/v1/search, /v1/rerank,
/v1/eval, /v1/analytics) that any client does, so what the page shows is what
the API answers.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Everything the page loads comes from this server: a strict policy costs nothing and stops injected scripts.
_SECURITY = {"Content-Security-Policy": "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'",
             "X-Content-Type-Options": "nosniff"}


def _static(name: str) -> Response:
    files = resources.files(__package__) / "static"
    path = files / name
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or suffix not in _TYPES or not path.is_file():
        raise HTTPException(404, f"no page file {name!r}")
    return Response(path.read_bytes(), media_type=_TYPES[suffix], headers=_SECURITY)


def ui_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def page() -> Response:
        return _static("index.html")

    @router.get("/ui/{name}")
    def asset(name: str) -> Response:
        return _static(name)

    return router
