"""The one error shape."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorResponse(BaseModel):
    """Every error: `{"detail": "..."}`."""

    detail: str


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
