"""`/v1/api/agents/...`: seed 001's agents API, in its envelope.

The same agents as `/voice-agents`, created and changed through the same service
(`services.agents`); the body's nested `config` is the contract's fields
(`schemas.seed_agents`).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ...schemas.envelope import envelope_of, ok
from ...schemas.seed_agents import (
    AgentAnalyticsSummary,
    AgentCreate,
    AgentDetails,
    AgentList,
    AgentListItem,
    AgentUpdate,
    KnowledgeSummary,
    Pagination,
    config_of,
    native_values,
    stats_of,
    tool_names,
)
from ...schemas.voice_agents import VoiceAgentCreate, VoiceAgentUpdate
from ...services.agents import create_agent, delete_agent, update_agent
from ...services.analytics import analytics
from ...services.refusal import Refused
from ...store.models import VoiceAgent
from ...store.repositories import (
    ConversationRepository,
    KnowledgeRepository,
    VoiceAgentRepository,
)
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import describe_validation_errors, first_field
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute
from .common import company_agent

router = APIRouter(prefix="/v1/api/agents", tags=["agents"], route_class=SeedRoute)

SEED_FIELDS = {
    "voice_id": "config.voice.voice_id",
    "voice_name": "config.voice.name",
    "voice_stability": "config.voice.settings.stability",
    "voice_similarity_boost": "config.voice.settings.similarity_boost",
    "voice_style": "config.voice.settings.style",
    "voice_speed": "config.voice.settings.speed",
    "first_message": "config.conversation.first_message",
    "system_prompt": "config.conversation.system_prompt",
    "llm_model": "config.conversation.model",
    "temperature": "config.conversation.temperature",
    "language": "config.conversation.language",
    "max_completion_tokens": "config.conversation.max_tokens",
    "turn_detection": "config.turn_detection",
    "privacy": "config.privacy",
    "active": "status",
}
"""Where each contract field is in the seed's body, for errors."""

Details = envelope_of(AgentDetails)


def _contract(model: type[BaseModel], values: dict[str, Any]) -> Any:
    """`values` as `model`; 400 naming the field as the seed's body names it."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
        field = first_field(errors)
        if field is not None:
            head, _, rest = field.partition(".")
            field = ".".join(p for p in (SEED_FIELDS.get(head, head), rest) if p)
        message = describe_validation_errors(errors)
        for native, seed in SEED_FIELDS.items():
            message = message.replace(f"{native}:", f"{seed}:").replace(f"{native}.", f"{seed}.")
        raise Refused(400, message, field=field, code="INVALID_REQUEST") from None


def _labels(agent: VoiceAgent) -> dict[str, Any]:
    """What the list and the details both show of an agent."""
    return {
        "id": agent.id,
        "name": agent.name,
        "description": agent.description,
        "status": "active" if agent.active else "inactive",
        "industry": agent.industry,
        "created_at": agent.created_at,
    }


async def _details(session: AsyncSession, agent: VoiceAgent) -> dict[str, Any]:
    rows = await ConversationRepository(session).for_agent(
        company_id=agent.company_id, agent_id=agent.id
    )
    summary = analytics(agent.id, rows)
    items, last_updated = await KnowledgeRepository(session).summary(
        company_id=agent.company_id, agent_id=agent.id
    )
    return AgentDetails(
        **_labels(agent),
        updated_at=agent.updated_at,
        config=config_of(agent),
        knowledge_base=KnowledgeSummary(items=items, last_updated=last_updated),
        tools=tool_names(agent),
        analytics=AgentAnalyticsSummary(
            total_calls=summary.total_calls,
            success_rate=summary.success_rate,
            avg_duration=summary.average_duration,
        ),
    ).model_dump(mode="json")


@router.get(
    "/list", responses=error_responses(400, 401, 429), response_model=envelope_of(AgentList)
)
async def list_agents(
    session: SessionDep,
    company_id: CompanyDep,
    status: Annotated[str | None, Query(pattern="^(active|inactive|training)$")] = None,
    industry: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """The company's agents, oldest first, with their call counts. `industry` matches
    case-insensitively; no agent is ever `training` (an agent takes calls once created)."""
    agents = [
        a
        for a in await VoiceAgentRepository(session).list(company_id=company_id)
        if (status is None or status == ("active" if a.active else "inactive"))
        and (industry is None or (a.industry or "").casefold() == industry.casefold())
    ]
    shown = agents[(page - 1) * limit : page * limit]
    counts = await ConversationRepository(session).call_counts(
        company_id=company_id, agent_ids=[a.id for a in shown]
    )
    listed = AgentList(
        agents=[AgentListItem(**_labels(a), stats=stats_of(counts.get(a.id))) for a in shown],
        pagination=Pagination(
            total=len(agents), page=page, pages=max(1, math.ceil(len(agents) / limit))
        ),
    )
    return ok(listed.model_dump(mode="json"))


@router.post(
    "/create",
    status_code=201,
    responses=error_responses(400, 401, 409, 429),
    response_model=Details,
)
async def create(
    body: AgentCreate,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> dict[str, Any]:
    """Create an agent; settings left out take their defaults (those of `POST
    /voice-agents`). It takes calls at once unless `status` is `inactive`."""
    values = {"active": True, **native_values(body)}
    contract = _contract(VoiceAgentCreate, values)
    agent = await create_agent(session, settings, vault, company_id, contract.values())
    return ok(await _details(session, agent), "Agent created")


@router.get("/{id}", responses=error_responses(401, 404, 429), response_model=Details)
async def get_agent(id: str, session: SessionDep, company_id: CompanyDep) -> dict[str, Any]:
    """One agent: its settings, its knowledge base, its tools and its calls' figures."""
    return ok(await _details(session, await company_agent(session, company_id, id, "id")))


@router.put("/{id}/update", responses=error_responses(400, 401, 404, 429), response_model=Details)
async def update(
    id: str,
    body: AgentUpdate,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> dict[str, Any]:
    """Change the settings given; the others keep their values. Applies to the next call."""
    agent = await company_agent(session, company_id, id, "id")
    changes = _contract(VoiceAgentUpdate, native_values(body))
    agent = await update_agent(session, settings, vault, agent, changes)
    return ok(await _details(session, agent), "Agent updated")


@router.delete("/{id}", responses=error_responses(401, 404, 409, 429))
async def delete(id: str, session: SessionDep, company_id: CompanyDep) -> dict[str, Any]:
    """Delete an agent (409 `RESOURCE_LOCKED` while it is on a call)."""
    await delete_agent(session, await company_agent(session, company_id, id, "id"))
    return ok(message="Agent deleted successfully")
