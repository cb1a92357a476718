"""What a conversation needs from the store: the agent it names, as the agent contract
(`AgentConfig`), with its provider keys, tool headers and MCP servers opened. Calls (the
worker) and chats (the control plane) load their agent here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from agent.contract import AgentConfig
from agent.mcp import McpAccess, transport_of
from control_plane.security import ProviderKeyVault
from control_plane.store.db import create_engine, session_factory
from control_plane.store.models import VoiceAgent
from control_plane.store.repositories import (
    McpServerRepository,
    ProviderKeyRepository,
    VoiceAgentRepository,
)
from control_plane.tool_secrets import open_tools
from pipelines.settings import ProviderCredentials


class AgentUnavailableError(LookupError):
    """The agent cannot take the conversation; the message says why (no personal data)."""


@dataclass(frozen=True)
class StoredAgent:
    """A stored agent, ready for a conversation."""

    agent_id: uuid.UUID
    company_id: uuid.UUID
    version: str
    """`updated_at` of the row the config was built from."""
    config: AgentConfig
    credentials: ProviderCredentials = ProviderCredentials()
    """The agent's provider keys (its own, else its company's), decrypted."""
    mcp: tuple[McpAccess, ...] = ()
    """The company's MCP servers that offer the agent's assigned tools, headers opened."""


def agent_config(agent: VoiceAgent) -> AgentConfig:
    """The agent contract of a stored agent (its row was checked against it when written)."""
    return AgentConfig.model_validate(agent, from_attributes=True, strict=False)


async def load_agent(
    database_url: str, agent_id: str, vault: Callable[[], ProviderKeyVault] | None = None
) -> StoredAgent:
    """Load and check the agent named by a dispatch, with its provider keys (decrypted by
    `vault()`, asked for only when there are keys). One short-lived connection: each call
    runs on its own event loop, and connections cannot move between loops."""
    try:
        parsed = uuid.UUID(agent_id)
    except ValueError:
        raise AgentUnavailableError(f"agent id {agent_id!r} is not a UUID") from None
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        async with session_factory(engine)() as session:
            return await ready_agent(session, parsed, vault)
    finally:
        await engine.dispose()


async def ready_agent(
    session: AsyncSession,
    agent_id: uuid.UUID,
    vault: Callable[[], ProviderKeyVault] | None = None,
    company_id: uuid.UUID | None = None,
) -> StoredAgent:
    """The agent `agent_id` (of `company_id`, when given) read through `session`, checked
    and opened; `AgentUnavailableError` says why it cannot serve."""
    try:
        agent = await VoiceAgentRepository(session).get_for_call(agent_id=agent_id)
        if agent is not None and company_id is not None and agent.company_id != company_id:
            agent = None
        sealed = (
            await ProviderKeyRepository(session).for_agent(
                company_id=agent.company_id, agent_id=agent.id
            )
            if agent is not None
            else {}
        )
        servers = (
            await McpServerRepository(session).list(company_id=agent.company_id)
            if agent is not None and agent.assigned_tools
            else []
        )
    except SQLAlchemyError as exc:
        raise AgentUnavailableError(
            f"store unavailable ({type(exc).__name__}); is the control plane's database "
            "migrated (`python -m control_plane migrate`)?"
        ) from exc
    if agent is None:
        raise AgentUnavailableError(f"agent {agent_id} does not exist")
    if not agent.active:
        raise AgentUnavailableError(f"agent {agent_id} is not active")
    credentials = ProviderCredentials()
    if sealed and vault is not None:
        try:
            opened = {provider: vault().decrypt(token) for provider, token in sealed.items()}
        except ValueError as exc:
            raise AgentUnavailableError(str(exc)) from exc
        credentials = ProviderCredentials(
            elevenlabs=opened.get("elevenlabs"), openai=opened.get("openai")
        )
    config = agent_config(agent)
    if vault is not None and any(getattr(t, "headers", None) for t in config.tools):
        try:
            tools = open_tools([t.model_dump(mode="json") for t in config.tools], vault())
        except ValueError as exc:
            raise AgentUnavailableError(f"agent {agent_id}'s tool headers: {exc}") from exc
        config = AgentConfig.model_validate(
            {**config.model_dump(mode="json"), "tools": tools}, strict=False
        )
    mcp = []
    for server in servers:
        offered = {tool["name"] for tool in server.tools or []}
        allowed = tuple(name for name in config.assigned_tools if name in offered)
        if not allowed or vault is None:
            continue
        try:
            headers = (
                json.loads(vault().decrypt(server.headers_ciphertext))
                if server.headers_ciphertext
                else {}
            )
        except ValueError as exc:
            raise AgentUnavailableError(f"MCP server {server.id}'s headers: {exc}") from exc
        mcp.append(
            McpAccess(
                url=server.url,
                transport=transport_of(server.url, server.transport),
                headers=headers,
                allowed_tools=allowed,
            )
        )
    return StoredAgent(
        agent_id=agent.id,
        company_id=agent.company_id,
        version=agent.updated_at.isoformat(),
        config=config,
        credentials=credentials,
        mcp=tuple(mcp),
    )
