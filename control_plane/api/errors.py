"""One error shape for every failure: `{"detail": "..."}`, 4xx for bad input, never a trace."""

from __future__ import annotations

import functools
import logging
import re
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..schemas.envelope import SEED_PREFIX, ErrorEnvelope, failed
from ..schemas.errors import (
    CHAT_PREFIX,
    ChatErrorResponse,
    ErrorResponse,
    chat_error,
    native_error,
)
from ..services.refusal import Refused
from ..store.outage import StoreUnavailableError, is_outage, unavailable

logger = logging.getLogger("control_plane")

_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """`temperature: Input should be less than or equal to 1; name: Field required`."""
    # For `X | None` fields pydantic reports the failed `None` branch too: leave it out.
    errors = [e for e in errors if e.get("type") != "none_required"] or errors
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            return "request body is not valid JSON"
        loc = [str(p) for p in error.get("loc", ()) if p not in _LOCATIONS and not _is_tag(p)]
        if not loc and error.get("type") in ("model_attributes_type", "dict_type"):
            return "request body must be a JSON object (Content-Type: application/json)"
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if error.get("type") == "missing":
            message = "field required"
        parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    return "; ".join(parts) or "invalid request"


def _is_tag(part: object) -> bool:
    """Union-branch names pydantic puts in locations (`PrivacyPatch`, `function-after[...]`,
    `constrained-float`)."""
    return isinstance(part, str) and (
        part[:1].isupper() or "[" in part or part.startswith("constrained-")
    )


def error_response(
    request: Request,
    status: int,
    detail: Any,
    headers: dict[str, str] | None = None,
    field: str | None = None,
) -> JSONResponse:
    """`{"detail": "..."}`, or on the seed-001 surface its envelope (`schemas.envelope`), or
    on the chat API its `{"error", "message", "statusCode"}`. A
    route may give `detail` as `{"code", "message", "field"}` for that envelope's sake."""
    code = None
    if isinstance(detail, dict) and "message" in detail:
        code, field, detail = detail.get("code"), detail.get("field", field), detail["message"]
    if request.url.path.startswith(SEED_PREFIX):
        content = failed(status, str(detail), code=code, field=field)
    elif request.url.path.startswith(CHAT_PREFIX):
        content = chat_error(status, str(detail))
    elif isinstance(detail, str):
        content = native_error(status, detail, code)
    else:
        content = {"detail": detail}
    return JSONResponse(content, status_code=status, headers=headers)


def first_field(errors: list[dict[str, Any]]) -> str | None:
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in _LOCATIONS and not _is_tag(p)]
        if loc:
            return ".".join(loc)
    return None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    return error_response(
        request, 400, describe_validation_errors(errors), field=first_field(errors)
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(request, exc.status_code, exc.detail, headers)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """The methods the API documents for the request's path: of the documented paths it fits,
    the most specific ones (`/voice-agents/english` rather than `/voice-agents/{id}`)."""
    fits = [
        (template.count("{"), operations)
        for template, operations in request.app.openapi().get("paths", {}).items()
        if _template(template).fullmatch(request.url.path)
    ]
    if not fits:
        return []
    fewest = min(params for params, _ in fits)
    documented = {m.upper() for params, ops in fits if params == fewest for m in ops}
    return [method for method in METHODS if method in documented]


@functools.cache
def _template(path: str) -> re.Pattern[str]:
    """`/voice-agents/{id}` -> a pattern matching `/voice-agents/<one segment>`."""
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "internal server error")


class _Sometimes:
    """True at most once in `seconds`: while the database is out of reach, its 503s are
    logged once a minute, not once each."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = -seconds

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


_log_outage = _Sometimes(60.0)


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    """503 when the database is out of reach (the detail says why; the client retries), and
    the same 500 as any other failure for an error of the query itself."""
    if not is_outage(exc):
        return await _unexpected_error(request, exc)
    if _log_outage():
        logger.warning("answering 503 while %s", unavailable(exc))
    return error_response(request, 503, str(unavailable(exc)), {"Retry-After": "5"})


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    """A service's refusal (`services.refusal`), in the shape of the request's surface."""
    assert isinstance(exc, Refused)
    detail = {"code": exc.code, "message": exc.message, "field": exc.field}
    return error_response(request, exc.status, detail)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error in (StoreUnavailableError, PoolTimeoutError, DBAPIError):
        app.add_exception_handler(error, _store_error)
    app.add_exception_handler(Exception, _unexpected_error)


def error_responses(
    *codes: int, model: type[BaseModel] = ErrorResponse
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return (in `model`'s shape)."""
    text = {
        400: "Bad request: the detail names the invalid field",
        401: "Missing or invalid API key",
        403: "The API key may not do this",
        404: "Not found",
        409: "Conflict with the resource's state",
        413: "Upload too large",
        415: "Unsupported file type",
        429: "Rate limit exceeded; see the Retry-After header",
        502: "An upstream service (LiveKit, a voice provider) failed",
        503: "A dependency (the database, Redis) is unreachable; retry later",
    }
    return {code: {"model": model, "description": text[code]} for code in codes}


def seed_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`error_responses` of the seed-001 surface, in its envelope."""
    return error_responses(*codes, model=ErrorEnvelope)


def chat_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`error_responses` of the chat API, in its error shape."""
    return error_responses(*codes, model=ChatErrorResponse)
