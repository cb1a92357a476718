"""`/voice-agents`: create, list, read, update and delete a company's voice agents."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Response

from ...jobs.webhooks import enqueue
from ...schemas.voice_agents import (
    InvalidSettingsError,
    VoiceAgentCreate,
    VoiceAgentPublic,
    VoiceAgentUpdate,
)
from ...security import ProviderKeyVault
from ...store.models import VoiceAgent
from ...store.repositories import VoiceAgentRepository
from ...tool_secrets import ToolSecretError, seal_tools
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep, check_tenant_url
from ..errors import error_responses
from ..guard import GuardedRoute

router = APIRouter(prefix="/voice-agents", tags=["voice agents"], route_class=GuardedRoute)

NOT_FOUND = "Voice agent not found"


async def check_agent_urls(settings: SettingsDep, values: dict) -> None:
    """400 naming the field when a URL the agent would call is not allowed (egress policy)."""
    if values.get("llm_base_url"):
        await check_tenant_url(settings, "llm_base_url", values["llm_base_url"])
    knowledge = values.get("knowledge") or {}
    if knowledge.get("embedding_base_url"):
        await check_tenant_url(
            settings, "knowledge.embedding_base_url", knowledge["embedding_base_url"]
        )
    for number, tool in enumerate(values.get("tools") or []):
        if tool.get("type") == "http":
            await check_tenant_url(settings, f"tools.{number}.url", tool["url"])


def sealed(values: dict, vault: ProviderKeyVault, stored: list | None) -> dict:
    """`values` with the tools' header values encrypted (400 when one cannot be taken)."""
    if "tools" not in values:
        return values
    try:
        return {**values, "tools": seal_tools(values["tools"], vault, stored)}
    except ToolSecretError as exc:
        raise HTTPException(400, str(exc)) from None


async def find_agent(session: SessionDep, company_id: uuid.UUID, agent_id: str) -> VoiceAgent:
    """The company's agent `agent_id`; 404 for a malformed id or another company's agent."""
    try:
        parsed = uuid.UUID(agent_id)
    except ValueError:
        raise HTTPException(404, NOT_FOUND) from None
    agent = await VoiceAgentRepository(session).get(company_id=company_id, agent_id=parsed)
    if agent is None:
        raise HTTPException(404, NOT_FOUND)
    return agent


@router.get("", responses=error_responses(401, 429))
async def list_voice_agents(session: SessionDep, company_id: CompanyDep) -> list[VoiceAgentPublic]:
    """All voice agents of the caller's company, oldest first."""
    agents = await VoiceAgentRepository(session).list(company_id=company_id)
    return [VoiceAgentPublic.model_validate(a) for a in agents]


@router.post("", status_code=201, responses=error_responses(400, 401, 409, 429))
async def create_voice_agent(
    body: VoiceAgentCreate,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> VoiceAgentPublic:
    """Create a voice agent; fields left out take their defaults. URLs the agent calls
    (`llm_base_url`, HTTP tools, an embeddings endpoint) must reach a public address
    (`EGRESS_ALLOWED_NETWORKS` relaxes that); HTTP tools' header values are stored encrypted
    and shown masked."""
    values = body.model_dump(mode="json")
    await check_agent_urls(settings, values)
    count = await VoiceAgentRepository(session).count(company_id=company_id)
    if count >= settings.max_agents_per_company:
        raise HTTPException(
            409,
            f"this company has {count} voice agents, the most allowed "
            "(MAX_AGENTS_PER_COMPANY); delete one first",
        )
    agent = await VoiceAgentRepository(session).create(
        company_id=company_id, values=sealed(values, vault, None)
    )
    public = VoiceAgentPublic.model_validate(agent)
    await enqueue(session, company_id, "agent.created", public.model_dump(mode="json"))
    await session.commit()
    return public


@router.get("/{id}", responses=error_responses(401, 404, 429))
async def get_voice_agent(id: str, session: SessionDep, company_id: CompanyDep) -> VoiceAgentPublic:
    """One voice agent."""
    return VoiceAgentPublic.model_validate(await find_agent(session, company_id, id))


@router.put("/{id}", responses=error_responses(400, 401, 404, 429))
async def update_voice_agent(
    id: str,
    body: VoiceAgentUpdate,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> VoiceAgentPublic:
    """Change the fields given; the others keep their values. Applies to the next call. A
    tool header sent back masked keeps its stored value."""
    agent = await find_agent(session, company_id, id)
    try:
        changes = body.changes(
            {
                "turn_detection": agent.turn_detection,
                "privacy": agent.privacy,
                "custom_responses": agent.custom_responses,
                "knowledge": agent.knowledge,
                "tool_settings": agent.tool_settings,
            }
        )
    except InvalidSettingsError as exc:
        raise HTTPException(400, str(exc)) from None
    await check_agent_urls(settings, changes)
    changes = sealed(changes, vault, agent.tools)
    agent = await VoiceAgentRepository(session).update(agent=agent, changes=changes)
    public = VoiceAgentPublic.model_validate(agent)
    data = {**public.model_dump(mode="json"), "changed": sorted(changes)}
    await enqueue(session, company_id, "agent.updated", data)
    await session.commit()
    return public


@router.delete("/{id}", status_code=204, responses=error_responses(401, 404, 429))
async def delete_voice_agent(id: str, session: SessionDep, company_id: CompanyDep) -> Response:
    """Delete a voice agent."""
    agent = await find_agent(session, company_id, id)
    data = {"id": str(agent.id), "name": agent.name}
    await VoiceAgentRepository(session).delete(agent=agent)
    await enqueue(session, company_id, "agent.deleted", data)
    await session.commit()
    return Response(status_code=204)
