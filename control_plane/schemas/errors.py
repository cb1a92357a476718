"""The one error shape."""

from __future__ import annotations

from pydantic import BaseModel

NATIVE_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "invalid_request_error"),
    401: ("invalid_api_key", "authentication_error"),
    403: ("insufficient_permissions", "permission_error"),
    404: ("not_found", "not_found_error"),
    405: ("method_not_allowed", "invalid_request_error"),
    409: ("conflict", "conflict_error"),
    413: ("payload_too_large", "invalid_request_error"),
    415: ("unsupported_media_type", "invalid_request_error"),
    422: ("unprocessable", "invalid_request_error"),
    429: ("rate_limit_exceeded", "rate_limit_error"),
    502: ("upstream_error", "api_error"),
    503: ("service_unavailable", "api_error"),
}
"""Seed 004's `error.code` and `error.type` of each status."""


class ErrorDetail(BaseModel):
    code: str
    """Machine-readable (`not_found`, `agent_not_found`, `rate_limit_exceeded`...)."""
    message: str
    type: str
    """The class of error (`invalid_request_error`, `authentication_error`...)."""


class ErrorResponse(BaseModel):
    """Every error: `{"detail": "..."}`, and the same in seed 004's shape, `{"error": {"code",
    "message", "type"}}`."""

    detail: str
    error: ErrorDetail


def native_error(status: int, message: str, code: str | None) -> dict[str, object]:
    default, kind = NATIVE_ERRORS.get(status, ("internal_error", "api_error"))
    return {
        "detail": message,
        "error": {"code": (code or default).lower(), "message": message, "type": kind},
    }


CHAT_PREFIX = "/api/v1/chat"
"""Paths of the chat API, whose errors come as `ChatErrorResponse`."""

CHAT_ERRORS = {
    400: "ValidationError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    409: "ConflictError",
    413: "PayloadTooLargeError",
    415: "UnsupportedMediaTypeError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "UpstreamError",
    503: "ServiceUnavailableError",
}


class ChatErrorResponse(BaseModel):
    """An error of the chat API: `{"error": "ValidationError", "message": "...",
    "statusCode": 400}`."""

    error: str
    message: str
    statusCode: int  # noqa: N815 - the documented name


def chat_error(status: int, message: str) -> dict[str, object]:
    return {
        "error": CHAT_ERRORS.get(status, "Error" if status < 500 else "InternalServerError"),
        "message": message,
        "statusCode": status,
    }
