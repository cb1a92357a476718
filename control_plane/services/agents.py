"""Creating, changing and deleting a company's voice agents: the rules every API surface
shares (the native `/voice-agents` and seed 001's `/v1/api/agents`).

Each change is checked (egress policy for URLs the agent calls, the company's agent limit,
merged nested settings), tools' header values are sealed, and the change's webhook is queued
in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..jobs.webhooks import enqueue
from ..schemas.voice_agents import (
    NESTED_SETTINGS,
    InvalidSettingsError,
    VoiceAgentPublic,
    VoiceAgentUpdate,
)
from ..security import ProviderKeyVault
from ..settings import Settings
from ..store.models import VoiceAgent
from ..store.repositories import ConversationRepository, VoiceAgentRepository
from ..tool_secrets import ToolSecretError, seal_tools
from .refusal import Refused, check_tenant_url
from .voices import check_voice_owner

NOT_FOUND = "Voice agent not found"


async def find_agent(
    session: AsyncSession, company_id: uuid.UUID, agent_id: str, field: str = "id"
) -> VoiceAgent:
    """The company's agent `agent_id`; 404 for a malformed id or another company's agent
    (`field` names where the id came from)."""
    try:
        parsed = uuid.UUID(agent_id)
    except ValueError:
        parsed = None
    agent = (
        await VoiceAgentRepository(session).get(company_id=company_id, agent_id=parsed)
        if parsed is not None
        else None
    )
    if agent is None:
        raise Refused(404, NOT_FOUND, field=field, code="AGENT_NOT_FOUND")
    return agent


async def create_agent(
    session: AsyncSession,
    settings: Settings,
    vault: ProviderKeyVault,
    company_id: uuid.UUID,
    values: dict[str, Any],
) -> VoiceAgent:
    """A new agent of `values` (a validated `VoiceAgentCreate`, as JSON), committed with its
    `agent.created` webhook."""
    await _check_urls(settings, values)
    if values.get("voice_id"):
        await check_voice_owner(session, company_id, values["voice_id"])
    repo = VoiceAgentRepository(session)
    count = await repo.count(company_id=company_id)
    if count >= settings.max_agents_per_company:
        raise Refused(
            409,
            f"this company has {count} voice agents, the most allowed "
            "(MAX_AGENTS_PER_COMPANY); delete one first",
            code="LIMIT_EXCEEDED",
        )
    agent = await repo.create(company_id=company_id, values=_sealed(values, vault, None))
    public = VoiceAgentPublic.model_validate(agent)
    await enqueue(session, company_id, "agent.created", public.model_dump(mode="json"))
    await session.commit()
    return agent


async def update_agent(
    session: AsyncSession,
    settings: Settings,
    vault: ProviderKeyVault,
    agent: VoiceAgent,
    body: VoiceAgentUpdate,
) -> VoiceAgent:
    """Apply a partial update (nested settings merged with the stored ones), committed with
    its `agent.updated` webhook naming the changed fields."""
    try:
        changes = body.changes({field: getattr(agent, field) for field in NESTED_SETTINGS})
    except InvalidSettingsError as exc:
        raise Refused(400, str(exc), field=str(exc).split(":", 1)[0]) from None
    await _check_urls(settings, changes)
    if changes.get("voice_id"):
        await check_voice_owner(session, agent.company_id, str(changes["voice_id"]))
    changes = _sealed(changes, vault, agent.tools)
    agent = await VoiceAgentRepository(session).update(agent=agent, changes=changes)
    public = VoiceAgentPublic.model_validate(agent)
    data = {**public.model_dump(mode="json"), "changed": sorted(changes)}
    await enqueue(session, agent.company_id, "agent.updated", data)
    await session.commit()
    return agent


async def delete_agent(session: AsyncSession, agent: VoiceAgent) -> None:
    """Delete the agent, committed with its `agent.deleted` webhook; 409 `RESOURCE_LOCKED`
    while it is on a call (a call's record would lose its agent mid-call)."""
    calls = await ConversationRepository(session).count_ongoing(agent_id=agent.id)
    if calls:
        raise Refused(
            409,
            f"the agent is on {calls} ongoing call(s); end them (POST /conversations/{{id}}/end) "
            "or retry when they are over",
            code="RESOURCE_LOCKED",
        )
    company_id, data = agent.company_id, {"id": str(agent.id), "name": agent.name}
    await VoiceAgentRepository(session).delete(agent=agent)
    await enqueue(session, company_id, "agent.deleted", data)
    await session.commit()


async def _check_urls(settings: Settings, values: dict[str, Any]) -> None:
    """400 naming the field when a URL the agent would call is not allowed (egress policy)."""
    urls = []
    if values.get("llm_base_url"):
        urls.append(("llm_base_url", values["llm_base_url"]))
    knowledge = values.get("knowledge") or {}
    if knowledge.get("embedding_base_url"):
        urls.append(("knowledge.embedding_base_url", knowledge["embedding_base_url"]))
    for number, tool in enumerate(values.get("tools") or []):
        if tool.get("type") == "http":
            urls.append((f"tools.{number}.url", tool["url"]))
    for field, url in urls:
        await check_tenant_url(settings, field, url)


def _sealed(values: dict[str, Any], vault: ProviderKeyVault, stored: list | None) -> dict:
    """`values` with the tools' header values encrypted (400 when one cannot be taken)."""
    if "tools" not in values:
        return values
    try:
        return {**values, "tools": seal_tools(values["tools"], vault, stored)}
    except ToolSecretError as exc:
        raise Refused(400, str(exc), field="tools") from None
