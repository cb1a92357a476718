"""The response envelope of the seed-001 surface (`/v1/api/...`): every answer says whether it
succeeded, carries its `data` or an `error` with a machine-readable `code`, and a timestamp.

    {"success": true, "data": {...}, "message": "...", "timestamp": "2025-01-15T10:30:00Z"}
    {"success": false, "error": {"code": "INVALID_REQUEST", "message": "...", "field": "url"},
     "timestamp": "..."}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, create_model

SEED_PREFIX = "/v1/api/"
"""Paths answered in this envelope."""

CODES = {
    400: "INVALID_REQUEST",
    401: "INVALID_API_KEY",
    403: "INSUFFICIENT_PERMISSIONS",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
    502: "UPSTREAM_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SeedError(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorEnvelope(BaseModel):
    success: bool = False
    error: SeedError
    timestamp: str


def envelope_of(data: type[BaseModel]) -> Any:
    """The success envelope around `data`, for the OpenAPI document."""
    return create_model(
        f"{data.__name__}Envelope",
        success=(bool, True),
        data=(data, ...),
        message=(str | None, None),
        timestamp=(str, ...),
    )


def ok(data: Any = None, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True}
    if data is not None:
        body["data"] = data
    if message is not None:
        body["message"] = message
    body["timestamp"] = timestamp()
    return body


def failed(
    status: int, message: str, *, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    return {
        "success": False,
        "error": {
            "code": code or CODES.get(status, "INTERNAL_ERROR"),
            "message": message,
            "field": field,
        },
        "timestamp": timestamp(),
    }
