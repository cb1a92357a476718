"""A request a service refuses: its status, a message naming the rule, and the field and code
that surfaces with richer error shapes (seed 001's envelope) show. The API's error handler
answers it in the shape of the surface the request came through."""

from __future__ import annotations


class Refused(Exception):
    def __init__(
        self, status: int, message: str, *, field: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code
