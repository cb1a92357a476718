"""Bodies of the MCP API (seed 001's `/api/mcp-servers` and `/api/agents/{id}/assign-tools`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.contract import Name, ToolName

McpUrl = Annotated[str, Field(pattern=r"^https?://[\x21-\x7e]+$", max_length=2000)]


class McpServerCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name
    url: McpUrl
    transport: Literal["streamable_http", "sse"] | None = None
    """Default: SSE for a URL ending in `/sse`, else streamable HTTP."""
    headers: dict[str, Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=20
    )
    """Sent to the server (an `Authorization` key...): stored encrypted, never shown."""


class McpServerView(BaseModel):
    id: str
    name: str
    url: str
    transport: str
    status: Literal["connected", "error", "unknown"]
    tools_count: int
    last_error: str | None
    checked_at: str | None
    created_at: str


class McpServerList(BaseModel):
    servers: list[McpServerView]


class McpToolView(BaseModel):
    name: str
    description: str
    parameters: dict[str, str]
    """Each parameter's type, as seed 001 lists them."""
    input_schema: dict[str, Any]
    """The tool's whole JSON Schema."""


class McpToolList(BaseModel):
    tools: list[McpToolView]


class AssignTools(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tools: list[ToolName] = Field(max_length=64)


class AssignedTools(BaseModel):
    agent_id: str
    tools: list[str]
