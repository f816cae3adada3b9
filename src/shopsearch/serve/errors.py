"""Every error in OpenAI's nested shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import DataDirError, IndexUnavailable, InvalidRequest, StorageFull
from ..models import InputTooLong, ModelUnavailable
from ..search.resilience import ModelCallFailed

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
         409: "conflict_error", 413: "invalid_request_error", 429: "rate_limit_error", 503: "service_unavailable_error",
         507: "insufficient_storage_error"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers or {}


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
                      "param": param, "code": code}}


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param, code), status_code=status, headers=headers)


def _param(loc) -> str | None:
    # loc starts with where the value was (body, query string, path, header), then the field path.
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.message, exc.param, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        param = _param(first.get("loc", ()))
        message = first.get("msg", "invalid request")
        if first.get("type") == "json_invalid":
            message, param = "the body is not valid JSON", None
        return error_response(400, f"{param}: {message}" if param else message, param, first.get("type"))

    @app.exception_handler(InvalidRequest)
    async def _invalid(request: Request, exc: InvalidRequest):
        return error_response(400, str(exc), exc.param, "invalid_value")

    @app.exception_handler(InputTooLong)
    async def _too_long(request: Request, exc: InputTooLong):
        return error_response(400, str(exc), f"input[{exc.index}]", "context_length_exceeded")

    @app.exception_handler(ModelCallFailed)
    async def _model_down(request: Request, exc: ModelCallFailed):
        return error_response(503, str(exc), None, "model_unavailable", {"Retry-After": "5"})

    @app.exception_handler(ModelUnavailable)
    async def _model_missing(request: Request, exc: ModelUnavailable):
        return error_response(503, str(exc), None, "model_unavailable", {"Retry-After": "5"})

    @app.exception_handler(StorageFull)
    async def _disk_full(request: Request, exc: StorageFull):
        return error_response(507, str(exc), None, "storage_full")

    @app.exception_handler(IndexUnavailable)
    async def _index_down(request: Request, exc: IndexUnavailable):
        return error_response(503, str(exc), None, "index_unavailable", {"Retry-After": "5"})

    @app.exception_handler(DataDirError)
    async def _read_only(request: Request, exc: DataDirError):
        return error_response(409, str(exc), None, "read_only")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail), None, None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        return error_response(500, f"internal error: {type(exc).__name__}", None, "internal_error")
