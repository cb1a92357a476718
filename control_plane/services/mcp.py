"""MCP servers: sealing their headers, checking them, what a call of an agent may use."""

from __future__ import annotations

import json
from typing import Any

from agent.mcp import McpAccess, describe_error, server_tools, transport_of

__all__ = ["access_of", "check", "seal_headers", "server_view", "tool_view", "transport_of"]
from shared.egress import EgressPolicy

from ..security import ProviderKeyVault
from ..store.models import McpServer
from ..store.repositories import McpServerRepository


def seal_headers(headers: dict[str, str], vault: ProviderKeyVault) -> str | None:
    return vault.encrypt(json.dumps(headers)) if headers else None


def access_of(
    server: McpServer, vault: ProviderKeyVault, allowed: tuple[str, ...] | None = None
) -> McpAccess:
    headers = (
        json.loads(vault.decrypt(server.headers_ciphertext)) if server.headers_ciphertext else {}
    )
    return McpAccess(
        url=server.url,
        transport=transport_of(server.url, server.transport),
        headers=headers,
        allowed_tools=allowed,
    )


async def check(
    repo: McpServerRepository, server: McpServer, vault: ProviderKeyVault, egress: EgressPolicy
) -> None:
    """Connect, list its tools, record the outcome on the row (the caller commits)."""
    try:
        tools = await server_tools(access_of(server, vault), egress)
    except Exception as exc:  # any failure is the server's status, not the request's
        repo.checked(server, tools=None, error=describe_error(exc))
    else:
        repo.checked(server, tools=tools, error=None)


def server_view(server: McpServer) -> dict[str, Any]:
    return {
        "id": str(server.id),
        "name": server.name,
        "url": server.url,
        "transport": server.transport,
        "status": server.status,
        "tools_count": len(server.tools or []),
        "last_error": server.last_error,
        "checked_at": server.checked_at.isoformat() if server.checked_at else None,
        "created_at": server.created_at.isoformat(),
    }


def simple_parameters(schema: dict[str, Any]) -> dict[str, str]:
    """Seed 001's view of a tool's parameters: each property's type."""
    properties = (schema or {}).get("properties") or {}
    return {
        name: str(spec.get("type", "object")) if isinstance(spec, dict) else "object"
        for name, spec in properties.items()
    }


def tool_view(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": tool["name"],
        "description": tool.get("description") or "",
        "parameters": simple_parameters(tool.get("input_schema") or {}),
        "input_schema": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
