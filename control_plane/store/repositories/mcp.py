"""A company's MCP servers."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import McpServer, utcnow


class McpServerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, *, company_id: uuid.UUID) -> Sequence[McpServer]:
        result = await self.session.scalars(
            select(McpServer)
            .where(McpServer.company_id == company_id)
            .order_by(McpServer.created_at)
        )
        return result.all()

    async def get(self, *, company_id: uuid.UUID, server_id: uuid.UUID) -> McpServer | None:
        return await self.session.scalar(
            select(McpServer).where(McpServer.id == server_id, McpServer.company_id == company_id)
        )

    async def create(self, *, company_id: uuid.UUID, **values: Any) -> McpServer:
        server = McpServer(
            company_id=company_id, status="unknown", tools=[], created_at=utcnow(), **values
        )
        self.session.add(server)
        await self.session.flush()
        return server

    def checked(
        self, server: McpServer, *, tools: builtins.list[dict[str, Any]] | None, error: str | None
    ) -> None:
        """What a check found: its tools (kept when it failed) and its status."""
        server.checked_at = utcnow()
        if error is None:
            server.status, server.last_error, server.tools = "connected", None, tools or []
        else:
            server.status, server.last_error = "error", error

    async def delete(self, *, server: McpServer) -> None:
        await self.session.delete(server)
        await self.session.flush()
