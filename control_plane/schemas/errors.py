"""The one error shape."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorResponse(BaseModel):
    """Every error: `{"detail": "..."}`."""

    detail: str
