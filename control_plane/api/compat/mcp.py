"""`/v1/api/mcp-servers` and `/v1/api/agents/{id}/assign-tools`: seed 001's MCP tools API.

A server is checked when it is registered, when its tools are asked for, and when it is
listed after `RECHECK_SECONDS`: its `status` says whether it answered (`connected`) or why
not (`error`, `last_error`). An agent's assigned tools are offered to its calls; a server
that is down when a call starts leaves its tools out, and the call goes on without them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter

from ...schemas.envelope import envelope_of, ok
from ...schemas.mcp import (
    AssignedTools,
    AssignTools,
    McpServerCreate,
    McpServerList,
    McpServerView,
    McpToolList,
)
from ...services import mcp as service
from ...services.refusal import check_tenant_url
from ...store.models import McpServer, utcnow
from ...store.repositories import McpServerRepository, VoiceAgentRepository
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute
from .common import company_agent, parse_id, seed_error

router = APIRouter(prefix="/v1/api", tags=["MCP tools"], route_class=SeedRoute)

RECHECK_SECONDS = 60.0


async def _server(session: SessionDep, company_id: uuid.UUID, server_id: str) -> McpServer:
    parsed = parse_id(server_id)
    server = (
        await McpServerRepository(session).get(company_id=company_id, server_id=parsed)
        if parsed is not None
        else None
    )
    if server is None:
        raise seed_error(404, "MCP server not found", "NOT_FOUND", "id")
    return server


@router.post(
    "/mcp-servers",
    status_code=201,
    responses=error_responses(400, 401, 429),
    response_model=envelope_of(McpServerView),
)
async def register_server(
    body: McpServerCreate,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> dict[str, Any]:
    """Register an MCP server (streamable HTTP or SSE). It is checked at once: `status` says
    whether it answered. Its URL must reach a public address (`EGRESS_ALLOWED_NETWORKS`
    relaxes that)."""
    await check_tenant_url(settings, "url", body.url)
    repo = McpServerRepository(session)
    server = await repo.create(
        company_id=company_id,
        name=body.name,
        url=body.url,
        transport=service.transport_of(body.url, body.transport),
        headers_ciphertext=service.seal_headers(body.headers, vault),
    )
    await service.check(repo, server, vault, settings.egress_policy())
    await session.commit()
    return ok(service.server_view(server), "MCP server registered")


@router.get(
    "/mcp-servers", responses=error_responses(401, 429), response_model=envelope_of(McpServerList)
)
async def list_servers(
    session: SessionDep, settings: SettingsDep, vault: VaultDep, company_id: CompanyDep
) -> dict[str, Any]:
    """The company's MCP servers, each with its status and how many tools it offers (checked
    again when the last check is over a minute old)."""
    repo = McpServerRepository(session)
    servers = list(await repo.list(company_id=company_id))
    stale = [
        s
        for s in servers
        if s.checked_at is None or utcnow() - s.checked_at > timedelta(seconds=RECHECK_SECONDS)
    ]
    if stale:
        await asyncio.gather(
            *(service.check(repo, s, vault, settings.egress_policy()) for s in stale)
        )
        await session.commit()
    return ok({"servers": [service.server_view(s) for s in servers]})


@router.get(
    "/mcp-servers/{id}/tools",
    responses=error_responses(401, 404, 429),
    response_model=envelope_of(McpToolList),
)
async def server_tools(
    id: str, session: SessionDep, settings: SettingsDep, vault: VaultDep, company_id: CompanyDep
) -> dict[str, Any]:
    """The tools the server offers, asked now (the last list it gave when it is down: see
    `GET /v1/api/mcp-servers` for its status)."""
    server = await _server(session, company_id, id)
    await service.check(McpServerRepository(session), server, vault, settings.egress_policy())
    await session.commit()
    return ok({"tools": [service.tool_view(t) for t in server.tools or []]})


@router.delete("/mcp-servers/{id}", responses=error_responses(401, 404, 429))
async def delete_server(id: str, session: SessionDep, company_id: CompanyDep) -> dict[str, Any]:
    """Forget the server; agents keep its tool names assigned but no call offers them."""
    server = await _server(session, company_id, id)
    await McpServerRepository(session).delete(server=server)
    await session.commit()
    return ok(message="MCP server deleted successfully")


@router.post(
    "/agents/{id}/assign-tools",
    responses=error_responses(400, 401, 404, 429),
    response_model=envelope_of(AssignedTools),
)
async def assign_tools(
    id: str, body: AssignTools, session: SessionDep, company_id: CompanyDep
) -> dict[str, Any]:
    """Let the agent's calls use these tools of the company's MCP servers (replaces the
    assigned list; an empty list takes them all away)."""
    agent = await company_agent(session, company_id, id, field="id")
    offered = {
        tool["name"]
        for server in await McpServerRepository(session).list(company_id=company_id)
        for tool in server.tools or []
    }
    unknown = [name for name in body.tools if name not in offered]
    if unknown:
        raise seed_error(
            400,
            f"no MCP server of the company offers {', '.join(unknown)}",
            field="tools",
        )
    tools = list(dict.fromkeys(body.tools))
    await VoiceAgentRepository(session).update(agent=agent, changes={"assigned_tools": tools})
    await session.commit()
    return ok({"agent_id": str(agent.id), "tools": tools}, "Tools assigned")
