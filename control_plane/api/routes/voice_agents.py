"""`/voice-agents`: create, list, read, update and delete a company's voice agents."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ...schemas.voice_agents import VoiceAgentCreate, VoiceAgentPublic, VoiceAgentUpdate
from ...services.agents import create_agent, delete_agent, find_agent, update_agent
from ...store.repositories import VoiceAgentRepository
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import error_responses
from ..guard import GuardedRoute

router = APIRouter(prefix="/voice-agents", tags=["voice agents"], route_class=GuardedRoute)

__all__ = ["find_agent", "router"]


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
    agent = await create_agent(session, settings, vault, company_id, body.values())
    return VoiceAgentPublic.model_validate(agent)


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
    agent = await update_agent(session, settings, vault, agent, body)
    return VoiceAgentPublic.model_validate(agent)


@router.delete("/{id}", status_code=204, responses=error_responses(401, 404, 409, 429))
async def delete_voice_agent(id: str, session: SessionDep, company_id: CompanyDep) -> Response:
    """Delete a voice agent; 409 (`resource_locked`) while it is on a call."""
    await delete_agent(session, await find_agent(session, company_id, id))
    return Response(status_code=204)
