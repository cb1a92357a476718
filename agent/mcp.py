"""MCP servers a company registers: reached through livekit-agents' MCP client (the official
`mcp` SDK underneath; streamable HTTP or SSE), every connection guarded by the egress policy.

The control plane uses `server_tools` to check a server and list what it offers; a call gets
`call_servers`, whose tools the agent may call (only those assigned to it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpcore2
import httpx2
import mcp.types as mcp_types
from livekit.agents.llm import ToolError, is_raw_function_tool
from livekit.agents.llm.mcp import MCPServerHTTP, MCPToolResultContext, MCPToolset
from livekit.agents.llm.tool_context import get_raw_function_info

from shared.egress import EgressPolicy, httpx_client

Transport = Literal["streamable_http", "sse"]
CONNECT_SECONDS = 5.0
"""How long a server may take to connect and list its tools (a call starts without it
after that)."""


def transport_of(url: str, transport: str | None = None) -> Transport:
    """The transport to use: as given, else SSE for a URL ending in `/sse`, else streamable
    HTTP (the current MCP transport)."""
    if transport in ("streamable_http", "sse"):
        return transport  # type: ignore[return-value]
    return "sse" if urlsplit(url).path.rstrip("/").endswith("/sse") else "streamable_http"


@dataclass(frozen=True)
class McpAccess:
    """How to reach one MCP server, its headers opened."""

    url: str
    transport: Transport
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    allowed_tools: tuple[str, ...] | None = None
    """The tools a call may use (None: all, for listing)."""


def text_result(ctx: MCPToolResultContext) -> str:
    """What the model reads of a tool's result: its text, as the server wrote it (other
    content, such as an image, as JSON). livekit-agents' default hands the model each text
    wrapped in its JSON envelope, which a small model then reads out."""
    if ctx.result.is_error:
        texts = [
            item.text for item in ctx.result.content if isinstance(item, mcp_types.TextContent)
        ]
        raise ToolError(" ".join(t for t in texts if t) or f"{ctx.tool_name} failed")
    parts = [
        item.text
        if isinstance(item, mcp_types.TextContent)
        else item.model_dump_json(by_alias=True)
        for item in ctx.result.content
    ]
    if not parts:
        raise ToolError(f"{ctx.tool_name} returned nothing")
    return "\n".join(parts)


class GuardedMCPServer(MCPServerHTTP):
    """livekit-agents' HTTP MCP client whose connections go only where the egress policy
    allows (checked at each connection, redirects included)."""

    def __init__(
        self, access: McpAccess, egress: EgressPolicy, connect_seconds: float = CONNECT_SECONDS
    ):
        super().__init__(
            access.url,
            transport_type=access.transport,
            allowed_tools=list(access.allowed_tools) if access.allowed_tools is not None else None,
            headers=dict(access.headers),
            timeout=connect_seconds,
            client_session_timeout_seconds=max(connect_seconds, 10.0),
            tool_result_resolver=text_result,
        )
        self._egress = egress

    def _create_http_client(
        self,
        headers: dict[str, Any] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        options: dict[str, Any] = {
            "timeout": timeout
            if timeout is not None
            else httpx2.Timeout(self._timeout, read=self._sse_read_timeout),
            "headers": headers if headers is not None else self._headers,
        }
        if auth is not None:
            options["auth"] = auth
        self._http_client = httpx_client(self._egress, http=httpx2, core=httpcore2, **options)
        return self._http_client


async def server_tools(
    access: McpAccess, egress: EgressPolicy, connect_seconds: float = CONNECT_SECONDS
) -> list[dict[str, Any]]:
    """Connect to the server and list its tools (name, description, input schema); raises
    with the reason when it cannot be reached or does not speak MCP."""
    server = GuardedMCPServer(access, egress, connect_seconds)
    try:
        async with asyncio.timeout(connect_seconds * 2):
            await server.initialize()
            tools = await server.list_tools()
    finally:
        await server.aclose()
    listed = []
    for tool in tools:
        if not is_raw_function_tool(tool):
            continue
        schema = get_raw_function_info(tool).raw_schema
        listed.append(
            {
                "name": schema["name"],
                "description": schema.get("description") or "",
                "input_schema": schema.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    return listed


def call_toolsets(accesses: list[McpAccess], egress: EgressPolicy) -> list[MCPToolset]:
    """The tools of the servers a call's agent uses (each server connects when the session
    starts; one that is down leaves its tools out and the call goes on)."""
    return [
        MCPToolset(id=f"mcp_{number}", mcp_server=GuardedMCPServer(access, egress))
        for number, access in enumerate(accesses)
    ]


def describe_error(exc: BaseException) -> str:
    """One line saying why a server could not be used (exception groups unwrapped)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_SECONDS * 2:g} s"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
