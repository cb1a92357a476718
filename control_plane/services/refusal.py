"""A request a service refuses: its status, a message naming the rule, and the field and code
that surfaces with richer error shapes (seed 001's envelope) show. The API's error handler
answers it in the shape of the surface the request came through.

URLs tenants give (agents' endpoints, knowledge pages, MCP servers, webhooks) are checked
against the egress policy here, for every surface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.egress import EgressRefusedError

if TYPE_CHECKING:
    from ..settings import Settings


class Refused(Exception):
    def __init__(
        self, status: int, message: str, *, field: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code


async def check_tenant_url(settings: Settings, field: str, url: str) -> None:
    """400 naming `field` and the rule when the egress policy refuses a URL a tenant gives."""
    try:
        await settings.egress_policy().check_url(url)
    except EgressRefusedError as exc:
        raise Refused(400, f"{field}: {exc}", field=field) from None
