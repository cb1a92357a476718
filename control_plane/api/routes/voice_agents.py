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
from ...store.models import VoiceAgent
from ...store.repositories import VoiceAgentRepository
from ..deps import CompanyDep, SessionDep, SettingsDep, check_tenant_url
from ..errors import error_responses
from ..guard import GuardedRoute

router = APIRouter(prefix="/voice-agents", tags=["voice agents"], route_class=GuardedRoute)

NOT_FOUND = "Voice agent not found"


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
    body: VoiceAgentCreate, session: SessionDep, settings: SettingsDep, company_id: CompanyDep
) -> VoiceAgentPublic:
    """Create a voice agent; fields left out take their defaults. An `llm_base_url` must reach
    a public address (`EGRESS_ALLOWED_NETWORKS` relaxes that)."""
    if body.llm_base_url:
        await check_tenant_url(settings, "llm_base_url", body.llm_base_url)
    count = await VoiceAgentRepository(session).count(company_id=company_id)
    if count >= settings.max_agents_per_company:
        raise HTTPException(
            409,
            f"this company has {count} voice agents, the most allowed "
            "(MAX_AGENTS_PER_COMPANY); delete one first",
        )
    agent = await VoiceAgentRepository(session).create(
        company_id=company_id, values=body.model_dump(mode="json")
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
    company_id: CompanyDep,
) -> VoiceAgentPublic:
    """Change the fields given; the others keep their values. Applies to the next call."""
    agent = await find_agent(session, company_id, id)
    if body.llm_base_url:
        await check_tenant_url(settings, "llm_base_url", body.llm_base_url)
    try:
        changes = body.changes(
            {
                "turn_detection": agent.turn_detection,
                "privacy": agent.privacy,
                "custom_responses": agent.custom_responses,
                "knowledge": agent.knowledge,
            }
        )
    except InvalidSettingsError as exc:
        raise HTTPException(400, str(exc)) from None
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
